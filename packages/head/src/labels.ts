/** Softmax of one row, in f64. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const e = Array.from(logits, (x) => Math.exp(x - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, k);
}

export interface LabelScore {
  label: string;
  score: number;
}

/** `id2label` from config.json, with Hugging Face's LABEL_i default. */
export function labelNames(id2label: Record<string, string> | undefined, numLabels: number): string[] {
  return Array.from({ length: numLabels }, (_, i) => id2label?.[String(i)] ?? `LABEL_${i}`);
}

/** Sequence classification: the top k labels of one row of logits, with softmax probabilities. */
export function classifyLogits(logits: ArrayLike<number>, labels: string[], k = 1): LabelScore[] {
  const p = softmax(logits);
  return topK(p, Math.min(k, p.length)).map((i) => ({ label: labels[i], score: p[i] }));
}
