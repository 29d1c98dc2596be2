import { softmax } from './labels.js';

export interface TokenPrediction {
  token: string;
  label: string;
  score: number;
  start: number;
  end: number;
}

export interface Entity {
  /** The entity type without its B-/I- prefix (PER, LOC…). */
  group: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

/** Per-token labels (special tokens and padding left out). logits (length, numLabels). */
export function tokenPredictions(
  logits: Float32Array, numLabels: number, labels: string[], tokens: string[], offsets: [number, number][], special: number[],
): TokenPrediction[] {
  const out: TokenPrediction[] = [];
  tokens.forEach((token, i) => {
    if (special[i]) return;
    const p = softmax(logits.subarray(i * numLabels, (i + 1) * numLabels));
    let best = 0;
    for (let c = 1; c < numLabels; c++) if (p[c] > p[best]) best = c;
    out.push({ token, label: labels[best], score: p[best], start: offsets[i][0], end: offsets[i][1] });
  });
  return out;
}

/**
 * Groups BIO-tagged tokens into entities (Hugging Face's aggregation_strategy="simple"): a B- tag or a change
 * of type starts an entity, I- of the same type continues it, O ends it. The score is the mean token score;
 * the word is the text between the first token's start and the last token's end.
 */
export function groupEntities(predictions: TokenPrediction[], text: string): Entity[] {
  const out: Entity[] = [];
  let current: { group: string; scores: number[]; start: number; end: number } | undefined;
  const flush = () => {
    if (current) out.push({ group: current.group, score: current.scores.reduce((a, b) => a + b, 0) / current.scores.length, word: text.slice(current.start, current.end), start: current.start, end: current.end });
    current = undefined;
  };
  for (const p of predictions) {
    const [tag, group] = p.label.includes('-') ? [p.label.slice(0, p.label.indexOf('-')), p.label.slice(p.label.indexOf('-') + 1)] : [p.label === 'O' ? 'O' : 'I', p.label];
    const subword = p.token.startsWith('##');
    if (tag === 'O' && !subword) {
      flush();
      continue;
    }
    if (current && (subword || (tag === 'I' && group === current.group))) {
      current.scores.push(p.score);
      current.end = p.end;
      continue;
    }
    flush();
    if (tag !== 'O') current = { group, scores: [p.score], start: p.start, end: p.end };
  }
  flush();
  return out;
}
