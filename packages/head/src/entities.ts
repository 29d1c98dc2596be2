import { softmax } from './labels.js';

/** Hugging Face's aggregation_strategy for token classification. */
export const AGGREGATIONS = ['none', 'simple', 'first', 'average', 'max'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** One token of the text (special tokens left out), with everything aggregation needs. */
export interface TokenPrediction {
  /** Position in the encoded input (special tokens counted), Hugging Face's `index`. */
  index: number;
  /** The token string (an unknown token: the text it covers). */
  word: string;
  /** Probabilities over the labels. */
  scores: number[];
  start: number;
  end: number;
  /** Continues the previous token's word (decided from offsets, not from "##"). */
  isSubword: boolean;
}

export interface Entity {
  /** The entity type without its B-/I- prefix (PER, LOC…); with aggregation "none", the token's own label. */
  group: string;
  score: number;
  word: string;
  /** UTF-16 offsets into the text. */
  start: number;
  end: number;
  /** With aggregation "none": the token's position in the encoded input. */
  index?: number;
}

export interface TokenInput {
  text: string;
  tokens: string[];
  ids: number[];
  offsets: [number, number][];
  special: number[];
  /** The tokenizer's unknown token id: such a token shows the text it covers. */
  unkId?: number;
  /** The tokenizer marks word continuations with a prefix (WordPiece "##"): subwords are found by length. */
  hasSubwordPrefix: boolean;
}

const codePoints = (s: string) => Array.from(s).length;

/**
 * Per-token label probabilities, as the token-classification pipeline gathers them: a token whose string is
 * longer than the text it covers carries a continuation prefix (WordPiece); otherwise (byte-level BPE,
 * SentencePiece) a token is a subword when it starts inside a word, i.e. no space precedes or begins it.
 * logits (length, numLabels).
 */
export function tokenPredictions(logits: Float32Array, numLabels: number, input: TokenInput): TokenPrediction[] {
  const out: TokenPrediction[] = [];
  input.tokens.forEach((token, i) => {
    if (input.special[i]) return;
    const [start, end] = input.offsets[i];
    const ref = input.text.slice(start, end);
    const scores = softmax(logits.subarray(i * numLabels, (i + 1) * numLabels));
    if (input.ids[i] === input.unkId) {
      out.push({ index: i, word: ref, scores, start, end, isSubword: false });
      return;
    }
    const isSubword = input.hasSubwordPrefix ? codePoints(token) !== codePoints(ref) : start > 0 && !input.text.slice(start - 1, start + 1).includes(' ');
    out.push({ index: i, word: token, scores, start, end, isSubword });
  });
  return out;
}

const argmax = (x: number[]) => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);

/** B-PER → [B, PER]; I-PER → [I, PER]; a label without prefix counts as I- of itself. */
function tag(label: string): [string, string] {
  if (label.startsWith('B-') || label.startsWith('I-')) return [label[0], label.slice(2)];
  return ['I', label];
}

interface Labeled {
  label: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

/** Hugging Face's group_entities: a token joins the group before it when its tag matches and it is not B-. */
function groupLabeled(items: Labeled[], join: (words: string[]) => string): Entity[] {
  const groups: Labeled[][] = [];
  for (const item of items) {
    const last = groups[groups.length - 1];
    const [bi, t] = tag(item.label);
    if (last && t === tag(last[last.length - 1].label)[1] && bi !== 'B') last.push(item);
    else groups.push([item]);
  }
  return groups.map((g) => ({
    group: tag(g[0].label)[1],
    score: g.reduce((a, e) => a + e.score, 0) / g.length,
    word: join(g.map((e) => e.word)),
    start: g[0].start,
    end: g[g.length - 1].end,
  }));
}

/** One label per word from its tokens' probabilities (first token, highest-scoring token, or the mean). */
function wordLabel(tokens: TokenPrediction[], how: 'first' | 'average' | 'max'): { index: number; score: number } {
  if (how === 'first') {
    const i = argmax(tokens[0].scores);
    return { index: i, score: tokens[0].scores[i] };
  }
  if (how === 'max') {
    const best = tokens.reduce((b, t) => (Math.max(...t.scores) > Math.max(...b.scores) ? t : b), tokens[0]);
    const i = argmax(best.scores);
    return { index: i, score: best.scores[i] };
  }
  const mean = tokens[0].scores.map((_, c) => tokens.reduce((a, t) => a + t.scores[c], 0) / tokens.length);
  const i = argmax(mean);
  return { index: i, score: mean[i] };
}

/**
 * Entities from per-token predictions with one of Hugging Face's aggregation strategies; entities whose label
 * (or group) is in `ignoreLabels` are dropped. `join` turns token strings into text (convert_tokens_to_string).
 */
export function aggregateEntities(predictions: TokenPrediction[], labels: string[], aggregation: Aggregation, join: (words: string[]) => string, ignoreLabels: readonly string[] = ['O']): Entity[] {
  const ignored = new Set(ignoreLabels);
  if (aggregation === 'none') {
    return predictions.flatMap((p) => {
      const i = argmax(p.scores);
      return ignored.has(labels[i]) ? [] : [{ group: labels[i], score: p.scores[i], word: p.word, start: p.start, end: p.end, index: p.index }];
    });
  }
  let items: Labeled[];
  if (aggregation === 'simple') {
    items = predictions.map((p) => {
      const i = argmax(p.scores);
      return { label: labels[i], score: p.scores[i], word: p.word, start: p.start, end: p.end };
    });
  } else {
    const words: TokenPrediction[][] = [];
    for (const p of predictions) {
      if (p.isSubword && words.length) words[words.length - 1].push(p);
      else words.push([p]);
    }
    items = words.map((w) => {
      const { index, score } = wordLabel(w, aggregation);
      return { label: labels[index], score, word: join(w.map((t) => t.word)), start: w[0].start, end: w[w.length - 1].end };
    });
  }
  return groupLabeled(items, join).filter((e) => !ignored.has(e.group));
}
