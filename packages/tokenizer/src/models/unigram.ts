import { TokenizerError } from '../errors.js';
import type { Model, ModelToken } from './model.js';
import { Vocab } from './model.js';

/** Hugging Face's penalty for an unknown character, below the worst piece's log-probability. */
const UNK_PENALTY = 10;

/**
 * Unigram language model (SentencePiece): the segmentation with the highest total log-probability, found by
 * Viterbi over a lattice of vocabulary pieces. O(n · longest piece).
 */
export interface UnigramConfig {
  vocab: [string, number][];
  unk_id?: number | null;
  byte_fallback?: boolean;
  fuse_unk?: boolean;
  /** Ids that text never matches (SentencePiece's control and unused pieces, e.g. </s>). */
  unmatchable?: readonly number[];
}

export function unigram(cfg: UnigramConfig, file?: string): Model {
  const pieces = new Map<string, { id: number; score: number }>();
  let maxLen = 1;
  let minScore = Infinity;
  const unmatchable = new Set(cfg.unmatchable ?? []);
  const entries: unknown = cfg.vocab;
  if (!Array.isArray(entries)) throw new TokenizerError(`${file ?? 'tokenizer.json'}: model.vocab must be a list of [piece, score] for Unigram, got ${JSON.stringify(entries)?.slice(0, 40)}`);
  entries.forEach((e: unknown, id) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') throw new TokenizerError(`${file ?? 'tokenizer.json'}: model.vocab[${id}] is ${JSON.stringify(e)?.slice(0, 40)}, expected [piece, score]`);
  });
  cfg.vocab.forEach(([piece, score], id) => {
    if (!pieces.has(piece) && !unmatchable.has(id)) pieces.set(piece, { id, score });
    maxLen = Math.max(maxLen, Array.from(piece).length);
    minScore = Math.min(minScore, score);
  });
  const vocab = Vocab.fromList(cfg.vocab.map(([p]) => p));
  const unkId = cfg.unk_id ?? undefined;
  if (unkId !== undefined && (unkId < 0 || unkId >= cfg.vocab.length)) throw new TokenizerError(`${file ?? 'tokenizer.json'}: unk_id ${unkId} is outside the vocabulary`);
  const unkScore = minScore - UNK_PENALTY;
  const byteFallback = cfg.byte_fallback ?? false;
  const fuseUnk = cfg.fuse_unk ?? true;

  return {
    kind: 'unigram',
    vocab,
    tokenize(text: string): ModelToken[] {
      const pos: number[] = [];
      for (let i = 0; i < text.length; i += text.codePointAt(i)! > 0xffff ? 2 : 1) pos.push(i);
      pos.push(text.length);
      const n = pos.length - 1;
      const score = new Float64Array(n + 1).fill(-Infinity);
      const from = new Int32Array(n + 1).fill(-1);
      const idAt = new Int32Array(n + 1).fill(-1);
      score[0] = 0;
      for (let s = 0; s < n; s++) {
        if (score[s] === -Infinity) continue;
        let single = false;
        for (let len = 1; len <= maxLen && s + len <= n; len++) {
          const hit = pieces.get(text.slice(pos[s], pos[s + len]));
          if (!hit) continue;
          if (len === 1) single = true;
          const cand = score[s] + hit.score;
          if (from[s + len] < 0 || cand > score[s + len]) {
            score[s + len] = cand;
            from[s + len] = s;
            idAt[s + len] = hit.id;
          }
        }
        if (!single) {
          const cand = score[s] + unkScore;
          if (from[s + 1] < 0 || cand > score[s + 1]) {
            score[s + 1] = cand;
            from[s + 1] = s;
            idAt[s + 1] = -2; // unknown character
          }
        }
      }
      const path: ModelToken[] = [];
      for (let e = n; e > 0; e = from[e]) {
        const s = from[e];
        const id = idAt[e];
        path.push({ id, value: id >= 0 ? cfg.vocab[id][0] : text.slice(pos[s], pos[e]), start: pos[s], end: pos[e] });
      }
      path.reverse();
      const out: ModelToken[] = [];
      for (const t of path) {
        if (t.id >= 0) {
          out.push(t);
          continue;
        }
        if (byteFallback) {
          const bytes = [...new TextEncoder().encode(t.value)].map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
          const ids = bytes.map((b) => pieces.get(b)?.id);
          if (ids.every((x) => x !== undefined)) {
            bytes.forEach((b, k) => out.push({ id: ids[k]!, value: b, start: t.start, end: t.end }));
            continue;
          }
        }
        if (unkId === undefined) throw new TokenizerError(`${file ?? 'tokenizer.json'}: "${t.value}" is not in the vocabulary and the model has no unk_id`);
        const last = out[out.length - 1];
        if (fuseUnk && last && last.id === unkId && last.end === t.start) {
          last.end = t.end;
          last.value += t.value;
        } else out.push({ id: unkId, value: t.value, start: t.start, end: t.end });
      }
      return out;
    },
  };
}
