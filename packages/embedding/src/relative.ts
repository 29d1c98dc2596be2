import { Tensor, type SharedArena } from '@attnflow/tensor';

/**
 * T5's relative position buckets (Hugging Face `_relative_position_bucket`): exact buckets for small
 * distances, logarithmic ones up to maxDistance; bidirectional for the encoder, causal (past only) for the
 * decoder. Float32 arithmetic as in PyTorch, so that boundary cases fall in the same bucket.
 */
export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = 0;
  let n = numBuckets;
  let rp = relative;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) buckets += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return buckets + rp;
  const f = Math.fround;
  const scaled = f(f(f(Math.log(f(rp / maxExact))) / Math.log(maxDistance / maxExact)) * (n - maxExact));
  return buckets + Math.min(maxExact + Math.trunc(scaled), n - 1);
}

/**
 * The additive attention bias (numHeads, qLen, kLen) for queries at positions qStart.. and keys at 0..kLen-1:
 * bias[h, i, j] = table[bucket(j - (qStart + i)), h], table (numBuckets, numHeads).
 */
export function relativePositionBias(
  table: Tensor<'float32'>, qStart: number, qLen: number, kLen: number,
  options: { bidirectional: boolean; numBuckets: number; maxDistance: number }, arena?: SharedArena,
): Tensor<'float32'> {
  const heads = table.shape[1];
  const out = Tensor.empty('float32', [heads, qLen, kLen], arena);
  const t = table.data;
  const o = out.data;
  for (let i = 0; i < qLen; i++) {
    for (let j = 0; j < kLen; j++) {
      const bucket = relativePositionBucket(j - (qStart + i), options.bidirectional, options.numBuckets, options.maxDistance);
      for (let h = 0; h < heads; h++) o[(h * qLen + i) * kLen + j] = t[bucket * heads + h];
    }
  }
  return out;
}
