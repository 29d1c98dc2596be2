export interface Answer {
  answer: string;
  score: number;
  /** UTF-16 offsets into the context. */
  start: number;
  end: number;
}

/**
 * Extractive QA: the span (i ≤ j, j - i < maxAnswerTokens) of context tokens maximising start[i] + end[j];
 * score = softmax(start)[i] · softmax(end)[j] over the context tokens, as Hugging Face's pipeline.
 * startLogits/endLogits (length,), contextToken[i]: whether token i belongs to the context.
 */
export function bestSpan(
  startLogits: ArrayLike<number>, endLogits: ArrayLike<number>, contextToken: boolean[], offsets: [number, number][], context: string, maxAnswerTokens = 30,
): Answer | undefined {
  const idx = contextToken.flatMap((c, i) => (c ? [i] : []));
  if (!idx.length) return undefined;
  const norm = (logits: ArrayLike<number>) => {
    const m = Math.max(...idx.map((i) => logits[i]));
    const z = idx.reduce((a, i) => a + Math.exp(logits[i] - m), 0);
    return (i: number) => Math.exp(logits[i] - m) / z;
  };
  const ps = norm(startLogits);
  const pe = norm(endLogits);
  let best: { i: number; j: number; s: number } | undefined;
  for (const i of idx)
    for (const j of idx) {
      if (j < i || j - i >= maxAnswerTokens) continue;
      const s = ps(i) * pe(j);
      if (!best || s > best.s) best = { i, j, s };
    }
  if (!best) return undefined;
  const start = offsets[best.i][0];
  const end = offsets[best.j][1];
  return { answer: context.slice(start, end), score: best.s, start, end };
}
