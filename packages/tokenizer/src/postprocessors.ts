import { unsupported } from './errors.js';
import { emptyEncoding, type Encoding } from './encoding.js';
import type { Vocab } from './models/model.js';

/** Adds special tokens and type ids to one encoding or a pair. */
export type PostProcessor = (a: Encoding, b: Encoding | undefined, addSpecialTokens: boolean) => Encoding;
type Json = Record<string, any>;
type Piece = { SpecialToken: { id: string; type_id: number } } | { Sequence: { id: 'A' | 'B'; type_id: number } };

function special(out: Encoding, id: number, token: string, typeId: number): void {
  out.ids.push(id);
  out.tokens.push(token);
  out.typeIds.push(typeId);
  out.offsets.push([0, 0]);
  out.specialTokensMask.push(1);
  out.attentionMask.push(1);
  out.sequenceIds.push(null);
  out.wordIds.push(null);
}

/** Appends e's tokens with the given type id (a loop: a spread of a million tokens overflows the stack). */
export function append(out: Encoding, e: Encoding, typeId: number, seq: number): void {
  for (let i = 0; i < e.ids.length; i++) {
    out.ids.push(e.ids[i]);
    out.tokens.push(e.tokens[i]);
    out.typeIds.push(typeId);
    out.offsets.push(e.offsets[i]);
    out.specialTokensMask.push(e.specialTokensMask[i]);
    out.attentionMask.push(e.attentionMask[i]);
    out.sequenceIds.push(seq);
    out.wordIds.push(e.wordIds[i]);
  }
}

function template(single: Piece[], pair: Piece[], specials: Record<string, { ids: number[]; tokens: string[] }>): PostProcessor {
  return (a, b, add) => {
    const out = emptyEncoding();
    for (const piece of b ? pair : single) {
      if ('Sequence' in piece) {
        const seq = piece.Sequence.id === 'A' ? a : b!;
        append(out, seq, piece.Sequence.type_id, piece.Sequence.id === 'A' ? 0 : 1);
      } else if (add) {
        const sp = specials[piece.SpecialToken.id];
        sp.ids.forEach((id, k) => special(out, id, sp.tokens[k], piece.SpecialToken.type_id));
      }
    }
    return out;
  };
}

/** The ByteLevel post-processor's offset trimming: leading/trailing spaces leave a token's offsets. */
export function trimByteLevelOffsets(e: Encoding, addPrefixSpace: boolean): void {
  const isSpace = (c: string) => c === 'Ġ' || /^\s$/u.test(c);
  e.tokens.forEach((token, i) => {
    const chars = Array.from(token);
    let lead = 0;
    while (lead < chars.length && isSpace(chars[lead])) lead++;
    let trail = 0;
    while (trail < chars.length && isSpace(chars[chars.length - 1 - trail])) trail++;
    const o = e.offsets[i];
    if (lead > 0) {
      if ((i === 0 || o[0] === 0) && addPrefixSpace && lead === 1) lead = 0;
      o[0] = Math.min(o[0] + lead, o[1]);
    }
    if (trail > 0 && o[1] >= trail) o[1] = Math.max(o[1] - trail, o[0]);
  });
}

const specialEntry = (token: string, vocab: Vocab, file?: string) => {
  const id = vocab.id(token);
  if (id === undefined) unsupported('special token', token, file, ['tokens in the vocabulary']);
  return { ids: [id], tokens: [token] };
};

export function buildPostProcessor(cfg: Json | null | undefined, vocab: Vocab, file?: string): PostProcessor | undefined {
  if (!cfg) return undefined;
  switch (cfg.type) {
    case 'TemplateProcessing':
      for (const [name, sp] of Object.entries((cfg.special_tokens ?? {}) as Record<string, { ids?: unknown; tokens?: unknown }>)) {
        const ok = Array.isArray(sp?.ids) && Array.isArray(sp.tokens) && sp.ids.length === sp.tokens.length && sp.ids.every((id) => Number.isSafeInteger(id) && id >= 0);
        if (!ok) unsupported('post_processor.special_tokens entry', name, file, ['{ ids: non-negative integers, tokens: as many strings }']);
      }
      return template(cfg.single, cfg.pair, cfg.special_tokens);
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const [sep, cls] = [cfg.sep[0] as string, cfg.cls[0] as string];
      const specials = { [sep]: specialEntry(sep, vocab, file), [cls]: specialEntry(cls, vocab, file) };
      const S = (id: string, type_id = 0): Piece => ({ SpecialToken: { id, type_id } });
      const Q = (id: 'A' | 'B', type_id: number): Piece => ({ Sequence: { id, type_id } });
      const roberta = cfg.type === 'RobertaProcessing';
      const single = [S(cls), Q('A', 0), S(sep)];
      const pair = roberta ? [S(cls), Q('A', 0), S(sep), S(sep), Q('B', 0), S(sep)] : [S(cls), Q('A', 0), S(sep), Q('B', 1), S(sep, 1)];
      const inner = template(single, pair, specials);
      return (a, b, add) => {
        if (roberta && (cfg.trim_offsets ?? true)) {
          trimByteLevelOffsets(a, cfg.add_prefix_space ?? true);
          if (b) trimByteLevelOffsets(b, cfg.add_prefix_space ?? true);
        }
        return inner(a, b, add);
      };
    }
    case 'ByteLevel':
      return (a, b, add) => {
        if (cfg.trim_offsets ?? true) {
          trimByteLevelOffsets(a, cfg.add_prefix_space ?? true);
          if (b) trimByteLevelOffsets(b, cfg.add_prefix_space ?? true);
        }
        return template([{ Sequence: { id: 'A', type_id: 0 } }], [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], {})(a, b, add);
      };
    case 'Sequence': {
      // Hugging Face runs each processor over the list of encodings; only ByteLevel (offset trimming) may come
      // before the one that adds special tokens, which is how real checkpoints (e.g. Llama 3) use it.
      const list = cfg.processors as Json[];
      const last = buildPostProcessor(list[list.length - 1], vocab, file)!;
      const trims = list.slice(0, -1).map((p) => {
        if (p.type !== 'ByteLevel') unsupported('post_processor inside Sequence', p.type, file, ['ByteLevel (then any last processor)']);
        return (e: Encoding) => (p.trim_offsets ?? true) && trimByteLevelOffsets(e, p.add_prefix_space ?? true);
      });
      return (a, b, add) => {
        for (const t of trims) {
          t(a);
          if (b) t(b);
        }
        return last(a, b, add);
      };
    }
    default:
      return unsupported('post_processor', cfg.type, file, ['TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence']);
  }
}
