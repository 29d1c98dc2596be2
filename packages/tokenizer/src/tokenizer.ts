import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDecoder, type Decoder } from './decoders.js';
import { emptyEncoding, type Encoding } from './encoding.js';
import { TokenizerError } from './errors.js';
import { buildModel, type Model } from './models/index.js';
import { NormalizedString } from './normalized.js';
import { buildNormalizer, type Normalizer } from './normalizers.js';
import { append, buildPostProcessor, type PostProcessor } from './postprocessors.js';
import { buildPreTokenizer, type PreTokenizer } from './pretokenizers.js';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
  normalized?: boolean;
}

export type Truncation = 'longest_first' | 'only_first' | 'only_second';

export interface EncodeOptions {
  /** Add [CLS]/[SEP], <s>/</s>… as the post-processor says. Default true. */
  addSpecialTokens?: boolean;
  /** Cut to at most this many tokens (special tokens included). */
  maxLength?: number;
  /** How to cut a pair; default longest_first. Without maxLength nothing is cut. */
  truncation?: Truncation;
}

export interface BatchOptions extends EncodeOptions {
  /** 'longest' pads to the longest in the batch (default); 'max_length' to maxLength; false leaves ragged rows. */
  padding?: 'longest' | 'max_length' | false;
  paddingSide?: 'right' | 'left';
  padToMultipleOf?: number;
}

/** A padded batch, row-major [batch, length], ready to become int32 tensors. */
export interface BatchEncoding {
  batch: number;
  length: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  encodings: Encoding[];
}

export interface TokenizerConfig {
  padToken?: string;
  maxLength?: number;
  paddingSide?: 'right' | 'left';
  [key: string]: unknown;
}

/** Texts longer than this many UTF-16 units are refused, as a bound on memory (override per tokenizer). */
export const DEFAULT_MAX_INPUT_CHARS = 64 * 1024 * 1024;

/**
 * A Hugging Face `tokenizer.json`: added tokens → normalizer → pre-tokenizer → model → post-processor, and a
 * decoder for the way back. Encodes exactly as the `tokenizers` library does (tested on its outputs).
 */
export class Tokenizer {
  readonly addedTokens: AddedToken[];
  private readonly addedPattern?: RegExp;
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly specialIds = new Set<number>();
  maxInputChars = DEFAULT_MAX_INPUT_CHARS;

  constructor(
    readonly model: Model,
    readonly normalizer: Normalizer | undefined,
    readonly preTokenizer: PreTokenizer | undefined,
    readonly postProcessor: PostProcessor | undefined,
    readonly decoder: Decoder | undefined,
    addedTokens: AddedToken[],
    readonly config: TokenizerConfig = {},
  ) {
    this.addedTokens = addedTokens;
    for (const t of addedTokens) {
      this.addedByContent.set(t.content, t);
      model.vocab.add(t.content, t.id);
      if (t.special) this.specialIds.add(t.id);
    }
    if (addedTokens.length) {
      const alts = [...addedTokens]
        .sort((a, b) => b.content.length - a.content.length)
        .map((t) => {
          const body = t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          const word = t.single_word ? `(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])` : body;
          return `${t.lstrip ? '\\s*' : ''}${word}${t.rstrip ? '\\s*' : ''}`;
        });
      this.addedPattern = new RegExp(alts.join('|'), 'gu');
    }
  }

  static fromJSON(json: Record<string, any>, file?: string, config: TokenizerConfig = {}): Tokenizer {
    if (!json || typeof json !== 'object' || !json.model) throw new TokenizerError(`${file ?? 'tokenizer.json'}: no "model" section; is this a tokenizer.json?`);
    const model = buildModel(json.model, file);
    return new Tokenizer(
      model,
      buildNormalizer(json.normalizer, file),
      buildPreTokenizer(json.pre_tokenizer, file),
      buildPostProcessor(json.post_processor, model.vocab, file),
      buildDecoder(json.decoder, file),
      (json.added_tokens ?? []) as AddedToken[],
      config,
    );
  }

  static fromFile(file: string, config: TokenizerConfig = {}): Tokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new TokenizerError(`${file}: cannot read tokenizer: ${(e as Error).message}`);
    }
    return Tokenizer.fromJSON(json as Record<string, any>, file, config);
  }

  /** tokenizer.json plus tokenizer_config.json (pad token, model_max_length, padding side) of a model directory. */
  static fromDirectory(dir: string): Tokenizer {
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new TokenizerError(`${dir}: no tokenizer.json (SentencePiece-only checkpoints: use SentencePieceTokenizer.fromFile on the .model file)`);
    const config: TokenizerConfig = {};
    const cfgFile = join(dir, 'tokenizer_config.json');
    if (existsSync(cfgFile)) {
      const raw = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, any>;
      Object.assign(config, raw);
      const tok = (v: any) => (typeof v === 'string' ? v : v?.content);
      config.padToken = tok(raw.pad_token);
      if (typeof raw.model_max_length === 'number' && raw.model_max_length < 1e9) config.maxLength = raw.model_max_length;
      if (raw.padding_side === 'left' || raw.padding_side === 'right') config.paddingSide = raw.padding_side;
    }
    return Tokenizer.fromFile(file, config);
  }

  get vocabSize(): number {
    return this.model.vocab.size;
  }

  tokenToId(token: string): number | undefined {
    return this.model.vocab.id(token);
  }

  idToToken(id: number): string | undefined {
    return this.model.vocab.token(id);
  }

  /** Makes `decode` skip this id (SentencePiece control pieces, which text never produces). */
  markSpecial(id: number): void {
    this.specialIds.add(id);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  get padTokenId(): number | undefined {
    return this.config.padToken !== undefined ? this.tokenToId(this.config.padToken) : undefined;
  }

  /** The tokens of one text, before special tokens are added. */
  private encodeText(text: string): Encoding {
    if (typeof text !== 'string') throw new TokenizerError(`expected a string to tokenize, got ${text === null ? 'null' : typeof text}`);
    if (text.length > this.maxInputChars) throw new TokenizerError(`text of ${text.length} characters exceeds the limit of ${this.maxInputChars} (set tokenizer.maxInputChars to raise it)`);
    if (!text.isWellFormed()) {
      const at = [...text].findIndex((c) => !c.isWellFormed());
      throw new TokenizerError(`text has a lone UTF-16 surrogate (invalid Unicode) at character ${at}`);
    }
    const out = emptyEncoding();
    const push = (id: number, token: string, start: number, end: number, special: number) => {
      out.ids.push(id);
      out.tokens.push(token);
      out.offsets.push([start, end]);
      out.typeIds.push(0);
      out.specialTokensMask.push(special);
      out.attentionMask.push(1);
      out.sequenceIds.push(0);
    };
    const plain = (from: number, to: number) => {
      if (to <= from) return;
      const normalized = NormalizedString.from(text.slice(from, to), from);
      this.normalizer?.(normalized);
      const pieces = this.preTokenizer ? this.preTokenizer([normalized]) : [normalized];
      for (const piece of pieces) {
        for (const t of this.model.tokenize(piece.text)) {
          const [s, e] = piece.originalRange(t.start, t.end);
          push(t.id, t.value, s, e, 0);
        }
      }
    };
    let last = 0;
    if (this.addedPattern) {
      for (const m of text.matchAll(this.addedPattern)) {
        const content = m[0].trim() && this.addedByContent.has(m[0]) ? m[0] : m[0].trim();
        const token = this.addedByContent.get(content) ?? this.addedByContent.get(m[0]);
        if (!token) continue;
        plain(last, m.index!);
        const at = m.index! + m[0].indexOf(token.content);
        push(token.id, token.content, at, at + token.content.length, token.special ? 1 : 0);
        last = m.index! + m[0].length;
      }
    }
    plain(last, text.length);
    return out;
  }

  /** Encodes a text, or a pair (question/context, premise/hypothesis). */
  encode(text: string, pair?: string, options: EncodeOptions = {}): Encoding {
    const add = options.addSpecialTokens ?? true;
    let a = this.encodeText(text);
    let b = pair === undefined ? undefined : this.encodeText(pair);
    if (options.maxLength !== undefined) {
      const budget = options.maxLength - (add ? this.numSpecialTokens(b !== undefined) : 0);
      if (budget < 0) throw new TokenizerError(`maxLength ${options.maxLength} leaves no room for the special tokens`);
      [a, b] = truncate(a, b, budget, options.truncation ?? 'longest_first');
    }
    if (this.postProcessor) return this.postProcessor(a, b, add);
    if (!b) return a;
    const out = emptyEncoding();
    append(out, a, 0, 0);
    append(out, b, 1, 1);
    return out;
  }

  numSpecialTokens(isPair: boolean): number {
    if (!this.postProcessor) return 0;
    return this.postProcessor(emptyEncoding(), isPair ? emptyEncoding() : undefined, true).ids.length;
  }

  /** Encodes texts (or pairs) into one padded batch. */
  encodeBatch(inputs: readonly (string | readonly [string, string])[], options: BatchOptions = {}): BatchEncoding {
    const encodings = inputs.map((x) => (typeof x === 'string' ? this.encode(x, undefined, options) : this.encode(x[0], x[1], options)));
    return this.pad(encodings, options);
  }

  pad(encodings: Encoding[], options: BatchOptions = {}): BatchEncoding {
    const padding = options.padding ?? 'longest';
    const side = options.paddingSide ?? this.config.paddingSide ?? 'right';
    let length = padding === 'max_length' && options.maxLength !== undefined ? options.maxLength : encodings.reduce((m, e) => Math.max(m, e.ids.length), 0);
    if (options.padToMultipleOf) length = Math.ceil(length / options.padToMultipleOf) * options.padToMultipleOf;
    if (padding === false && encodings.some((e) => e.ids.length !== length)) {
      throw new TokenizerError('texts of different lengths cannot form a batch without padding');
    }
    const padId = this.padTokenId ?? 0;
    const batch = encodings.length;
    const inputIds = new Int32Array(batch * length).fill(padId);
    const attentionMask = new Int32Array(batch * length);
    const tokenTypeIds = new Int32Array(batch * length);
    encodings.forEach((e, r) => {
      const n = e.ids.length;
      const at = r * length + (side === 'left' ? length - n : 0);
      inputIds.set(e.ids, at);
      attentionMask.fill(1, at, at + n);
      tokenTypeIds.set(e.typeIds, at);
    });
    return { batch, length, inputIds, attentionMask, tokenTypeIds, encodings };
  }

  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const tokens: string[] = [];
    for (const id of Array.from(ids)) {
      if (skip && this.specialIds.has(id)) continue;
      const t = this.idToToken(id);
      if (t !== undefined) tokens.push(t);
    }
    return this.decoder ? this.decoder(tokens).join('') : tokens.join(' ');
  }
}

function truncate(a: Encoding, b: Encoding | undefined, budget: number, how: Truncation): [Encoding, Encoding | undefined] {
  const cut = (e: Encoding, n: number): Encoding => ({
    ids: e.ids.slice(0, n), tokens: e.tokens.slice(0, n), typeIds: e.typeIds.slice(0, n), offsets: e.offsets.slice(0, n),
    specialTokensMask: e.specialTokensMask.slice(0, n), attentionMask: e.attentionMask.slice(0, n), sequenceIds: e.sequenceIds.slice(0, n),
  });
  const la = a.ids.length;
  const lb = b?.ids.length ?? 0;
  if (la + lb <= budget) return [a, b];
  if (!b) return [cut(a, budget), undefined];
  if (how === 'only_first') {
    if (budget - lb < 0) throw new TokenizerError(`the second text alone (${lb} tokens) exceeds maxLength; cannot truncate only_first`);
    return [cut(a, budget - lb), b];
  }
  if (how === 'only_second') {
    if (budget - la < 0) throw new TokenizerError(`the first text alone (${la} tokens) exceeds maxLength; cannot truncate only_second`);
    return [a, cut(b, budget - la)];
  }
  // longest_first: take tokens off the longer text until both fit (ties: the first loses the extra one).
  let na = la;
  let nb = lb;
  while (na + nb > budget) {
    if (na >= nb) na--;
    else nb--;
  }
  return [cut(a, na), cut(b, nb)];
}
