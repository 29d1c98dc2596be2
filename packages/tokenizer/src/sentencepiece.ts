import { readFileSync } from 'node:fs';
import { TokenizerError } from './errors.js';
import { unigram } from './models/unigram.js';
import { sentencePieceBpe } from './models/spmBpe.js';
import { PrecompiledCharsmap } from './precompiled.js';
import { Tokenizer } from './tokenizer.js';
import { buildDecoder } from './decoders.js';
import { buildPreTokenizer } from './pretokenizers.js';
import type { NormalizedString } from './normalized.js';
import type { Model } from './models/model.js';
import type { Normalizer } from './normalizers.js';
import { buildPostProcessor } from './postprocessors.js';

/** SentencePiece piece types (sentencepiece_model.proto). */
const PieceType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

interface Field {
  no: number;
  wire: number;
  value: number | Uint8Array;
}

/** A minimal protobuf reader: enough for sentencepiece_model.proto, with every length checked. */
function* fields(buf: Uint8Array, file: string): Generator<Field> {
  let at = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (at >= buf.length) throw new TokenizerError(`${file}: truncated protobuf (varint runs past the end)`);
      const b = buf[at++];
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
      if (shift > 63) throw new TokenizerError(`${file}: malformed protobuf varint`);
    }
  };
  while (at < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { no, wire, value: varint() };
    else if (wire === 1) {
      at += 8;
      yield { no, wire, value: 0 };
    } else if (wire === 2) {
      const len = varint();
      if (at + len > buf.length) throw new TokenizerError(`${file}: truncated protobuf (field ${no} claims ${len} bytes, ${buf.length - at} remain)`);
      yield { no, wire, value: buf.subarray(at, at + len) };
      at += len;
    } else if (wire === 5) {
      if (at + 4 > buf.length) throw new TokenizerError(`${file}: truncated protobuf`);
      yield { no, wire, value: new DataView(buf.buffer, buf.byteOffset + at, 4).getFloat32(0, true) };
      at += 4;
    } else throw new TokenizerError(`${file}: unsupported protobuf wire type ${wire}; not a SentencePiece model?`);
  }
}

const text = new TextDecoder('utf-8', { fatal: true });

export interface SentencePieceModel {
  pieces: { piece: string; score: number; type: number }[];
  modelType: number;
  unkId: number;
  byteFallback: boolean;
  charsmap?: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

export function readSentencePieceModel(file: string): SentencePieceModel {
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const model: SentencePieceModel = { pieces: [], modelType: 1, unkId: 0, byteFallback: false, addDummyPrefix: true, removeExtraWhitespaces: true };
  for (const f of fields(buf, file)) {
    if (f.no === 1 && f.value instanceof Uint8Array) {
      const piece = { piece: '', score: 0, type: PieceType.normal as number };
      for (const g of fields(f.value, file)) {
        if (g.no === 1 && g.value instanceof Uint8Array) piece.piece = text.decode(g.value);
        else if (g.no === 2) piece.score = g.value as number;
        else if (g.no === 3) piece.type = g.value as number;
      }
      model.pieces.push(piece);
    } else if (f.no === 2 && f.value instanceof Uint8Array) {
      for (const g of fields(f.value, file)) {
        if (g.no === 3) model.modelType = g.value as number;
        else if (g.no === 35) model.byteFallback = g.value === 1;
        else if (g.no === 40) model.unkId = g.value as number;
      }
    } else if (f.no === 3 && f.value instanceof Uint8Array) {
      for (const g of fields(f.value, file)) {
        if (g.no === 2 && g.value instanceof Uint8Array) model.charsmap = g.value.slice();
        else if (g.no === 3) model.addDummyPrefix = g.value === 1;
        else if (g.no === 4) model.removeExtraWhitespaces = g.value === 1;
      }
    }
  }
  if (!model.pieces.length) throw new TokenizerError(`${file}: no pieces; not a SentencePiece model`);
  return model;
}

/** The normaliser, model (unigram or BPE) and control ids of a SentencePiece model, as sentencepiece itself runs them. */
export function sentencePieceParts(spm: SentencePieceModel, file: string): { model: Model; normalizer: Normalizer; controls: number[] } {
  if (spm.modelType !== 1 && spm.modelType !== 2) throw new TokenizerError(`${file}: SentencePiece model type ${spm.modelType} is not supported (unigram, type 1, and BPE, type 2)`);
  const charsmap = spm.charsmap?.length ? new PrecompiledCharsmap(spm.charsmap, file) : undefined;
  const normalizer = (s: NormalizedString) => {
    charsmap?.normalize(s);
    if (spm.removeExtraWhitespaces) {
      s.replace(/^ +| +$/g, '');
      s.replace(/ {2,}/g, ' ');
    }
  };
  const unmatchable = spm.pieces.flatMap((p, id) => (p.type === PieceType.control || p.type === PieceType.unused || p.type === PieceType.unknown ? [id] : []));
  const model = spm.modelType === 2
    ? sentencePieceBpe(spm.pieces.map((p) => [p.piece, p.score]), spm.unkId, unmatchable)
    : unigram({ vocab: spm.pieces.map((p) => [p.piece, p.score]), unk_id: spm.unkId, byte_fallback: spm.byteFallback, unmatchable }, file);
  const controls = spm.pieces.flatMap((p, id) => (p.type === PieceType.control ? [id] : []));
  return { model, normalizer, controls };
}

/** Whether piece `id` of a SentencePiece model is one text can produce (not control, unused or unknown). */
export const isNormalPiece = (spm: SentencePieceModel, id: number): boolean => {
  const t = spm.pieces[id]?.type;
  return t === PieceType.normal || t === PieceType.userDefined || t === PieceType.byte;
};

/**
 * A SentencePiece `.model` (as Marian and T5 ship it) as an attnflow Tokenizer: precompiled normalization,
 * whitespace folding, "▁" for spaces, and the unigram lattice; reproduces the sentencepiece library's ids.
 */
export function sentencePieceTokenizer(file: string, options: { addEos?: boolean } = {}): Tokenizer {
  const spm = readSentencePieceModel(file);
  const { model, normalizer, controls } = sentencePieceParts(spm, file);
  const scheme = spm.addDummyPrefix ? 'always' : 'never';
  const eos = spm.pieces.findIndex((p) => p.piece === '</s>');
  const A = { Sequence: { id: 'A', type_id: 0 } };
  const B = { Sequence: { id: 'B', type_id: 0 } };
  const EOS = { SpecialToken: { id: '</s>', type_id: 0 } };
  const post = options.addEos && eos >= 0
    ? buildPostProcessor({ type: 'TemplateProcessing', single: [A, EOS], pair: [A, EOS, B, EOS], special_tokens: { '</s>': { id: '</s>', ids: [eos], tokens: ['</s>'] } } }, model.vocab, file)
    : undefined;
  const tok = new Tokenizer(
    model,
    normalizer,
    // BPE pieces never span a word boundary (SentencePiece trains them split by whitespace): merge word by word
    buildPreTokenizer({ type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split: spm.modelType === 2 }, file),
    post,
    // sentencepiece decodes an unknown piece as " ⁇ ".
    buildDecoder({
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: spm.pieces[spm.unkId]?.piece ?? '<unk>' }, content: ' ⁇ ' },
        ...(spm.byteFallback ? [{ type: 'ByteFallback' }] : []),
        { type: 'Metaspace', replacement: '▁', prepend_scheme: scheme },
      ],
    }, file),
    [],
  );
  for (const id of controls) tok.markSpecial(id);
  return tok;
}
