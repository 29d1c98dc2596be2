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

/** What turns a classifier's logits into scores (Hugging Face's function_to_apply). */
export const CLASSIFY_FUNCTIONS = ['softmax', 'sigmoid', 'none'] as const;
export type ClassifyFunction = (typeof CLASSIFY_FUNCTIONS)[number];

/**
 * The text-classification pipeline's default: none for regression; sigmoid for multi-label models and models
 * with one label; softmax otherwise.
 */
export function defaultClassifyFunction(problemType: string | undefined, numLabels: number): ClassifyFunction {
  if (problemType === 'regression') return 'none';
  if (problemType === 'multi_label_classification' || numLabels === 1) return 'sigmoid';
  return 'softmax';
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function applyClassifyFunction(logits: ArrayLike<number>, fn: ClassifyFunction): number[] {
  if (fn === 'softmax') return softmax(logits);
  return Array.from(logits, fn === 'sigmoid' ? sigmoid : (x) => x);
}

/** Sequence classification: every label with its score, best first (ties: label order). */
export function classifyLogits(logits: ArrayLike<number>, labels: string[], fn: ClassifyFunction = 'softmax'): LabelScore[] {
  const p = applyClassifyFunction(logits, fn);
  return topK(p, p.length).map((i) => ({ label: labels[i], score: p[i] }));
}
