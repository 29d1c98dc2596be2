/**
 * LayerNorm / RMSNorm over the last dimension, optionally of (x + residual), which is how every post-LN block
 * ends: out (rows, dim) = norm(x (rows, dim) [+ residual (rows, dim)]) * weight (dim,) [+ bias (dim,)].
 * RMSNorm (T5) subtracts no mean and has no bias. `out` may alias `x` or `residual`.
 * With `groups`, each row holds that many vectors of `dim` (at r*rowStride + g*dim) normalised one by one with
 * the same weight: Qwen3's per-head q/k norm over the fused projection, without a copy.
 */
export interface NormArgs {
  rows: number;
  dim: number;
  eps: number;
  rms?: boolean;
  groups?: number;
  /** Elements between rows (default groups*dim). */
  rowStride?: number;
  rowStart?: number;
  rowEnd?: number;
}

export function norm(
  out: Float32Array, x: Float32Array, residual: Float32Array | undefined,
  weight: Float32Array, bias: Float32Array | undefined, args: NormArgs,
): void {
  const { dim, eps, rms = false } = args;
  const row = new Float64Array(dim);
  const groups = args.groups ?? 1;
  const stride = args.rowStride ?? groups * dim;
  for (let u = (args.rowStart ?? 0) * groups; u < (args.rowEnd ?? args.rows) * groups; u++) {
    const o = Math.floor(u / groups) * stride + (u % groups) * dim;
    let mean = 0;
    for (let c = 0; c < dim; c++) {
      const v = x[o + c] + (residual ? residual[o + c] : 0);
      row[c] = v;
      mean += v;
    }
    mean = rms ? 0 : mean / dim;
    let variance = 0;
    for (let c = 0; c < dim; c++) {
      const d = row[c] - mean;
      variance += d * d;
    }
    const inv = 1 / Math.sqrt(variance / dim + eps);
    for (let c = 0; c < dim; c++) out[o + c] = (row[c] - mean) * inv * weight[c] + (bias ? bias[c] : 0);
  }
}
