/**
 * Numerically stable softmax of `n` scores in place (subtract the max first). Entries with `masked[i]` true
 * get probability 0; a row whose every entry is masked becomes uniform, which is what Hugging Face's
 * additive-min-float masks and the seed module's -1e20 fill both produce.
 */
export function softmaxInPlace(scores: Float32Array | Float64Array, offset: number, n: number, keep?: (i: number) => boolean): void {
  let max = -Infinity;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (keep && !keep(i)) continue;
    kept++;
    if (scores[offset + i] > max) max = scores[offset + i];
  }
  if (kept === 0) {
    for (let i = 0; i < n; i++) scores[offset + i] = 1 / n;
    return;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = keep && !keep(i) ? 0 : Math.exp(scores[offset + i] - max);
    scores[offset + i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) scores[offset + i] /= sum;
}

/** log-softmax of x (n,) -> out (n,), in f64 for generation scores. */
export function logSoftmax(out: Float64Array, x: ArrayLike<number>): void {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - lse;
}
