/** log-softmax of x (n,) -> out (n,), in f64 for generation scores. */
export function logSoftmax(out: Float64Array, x: ArrayLike<number>): void {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - lse;
}
