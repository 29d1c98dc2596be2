/**
 * Multi-head scaled dot-product attention, softmax(Q Kᵀ · scale + bias, masked) V, for every (batch, head)
 * unit in `unitStart..unitEnd` (unit = b * numHeads + h).
 *
 * Layouts (element strides, so that Q/K/V can be column blocks of one fused projection, and K/V can be a cache
 * with spare capacity, all without copies):
 *   q   (batch, qLen, numHeads, headDim)   at b*qBatchStride + i*qRowStride + h*headStride
 *   k,v (batch, kLen, numHeads, headDim)   at b*kvBatchStride + j*kvRowStride + h*headStride
 *   out (batch, qLen, numHeads, headDim)   at b*outBatchStride + i*outRowStride + h*headStride
 *   keyMask      (batch, kLen)             1 = real token, 0 = padding
 *   positionBias (numHeads, qLen, kLen)    added after scaling (T5's relative bias)
 *   probs        (batch, numHeads, qLen, kLen)  optional output: the attention weights
 * Causal: query i sits at absolute position kLen - qLen + i (the cache holds the earlier ones) and sees keys
 * up to it. A masked score takes the value `maskFill` before the softmax: Hugging Face uses the most negative
 * float32, the seed module -1e20 (divided by its scale); either way a masked key gets weight exactly 0, and a
 * row with every key masked comes out uniform.
 */
export interface AttentionArgs {
  batch: number;
  numHeads: number;
  headDim: number;
  qLen: number;
  kLen: number;
  qRowStride: number;
  kvRowStride: number;
  outRowStride: number;
  qBatchStride: number;
  kvBatchStride: number;
  outBatchStride: number;
  /** Offset between heads inside a row; headDim for the usual (numHeads, headDim) split. */
  headStride?: number;
  scale: number;
  causal?: boolean;
  maskFill?: number;
  unitStart?: number;
  unitEnd?: number;
}

export const MOST_NEGATIVE_F32 = -3.4028234663852886e38;

export interface AttentionTensors {
  out: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  keyMask?: Int32Array;
  positionBias?: Float32Array;
  probs?: Float32Array;
}

export function attention(t: AttentionTensors, a: AttentionArgs): void {
  const { numHeads: H, headDim: D, qLen, kLen, scale } = a;
  const hs = a.headStride ?? D;
  const fill = a.maskFill ?? MOST_NEGATIVE_F32;
  const scores = new Float64Array(kLen);
  const acc = new Float64Array(D);
  const { out, q, k, v, keyMask, positionBias, probs } = t;
  for (let u = a.unitStart ?? 0; u < (a.unitEnd ?? a.batch * H); u++) {
    const b = Math.floor(u / H);
    const h = u % H;
    const kBase = b * a.kvBatchStride + h * hs;
    for (let i = 0; i < qLen; i++) {
      const qi = b * a.qBatchStride + i * a.qRowStride + h * hs;
      const visible = a.causal ? kLen - qLen + i + 1 : kLen;
      // scores (kLen,) = q_i · k_j * scale + bias
      for (let j = 0; j < kLen; j++) {
        if (j >= visible || (keyMask && keyMask[b * kLen + j] === 0)) {
          scores[j] = fill;
          continue;
        }
        const kj = kBase + j * a.kvRowStride;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qi + d] * k[kj + d];
        scores[j] = s * scale + (positionBias ? positionBias[(h * qLen + i) * kLen + j] : 0);
      }
      let max = -Infinity;
      for (let j = 0; j < kLen; j++) if (scores[j] > max) max = scores[j];
      let sum = 0;
      for (let j = 0; j < kLen; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      // out_i (headDim,) = Σ_j p_ij v_j
      acc.fill(0);
      for (let j = 0; j < kLen; j++) {
        const p = scores[j] / sum;
        if (probs) probs[((b * H + h) * qLen + i) * kLen + j] = p;
        if (p === 0) continue;
        const vj = kBase + j * a.kvRowStride;
        for (let d = 0; d < D; d++) acc[d] += p * v[vj + d];
      }
      const oi = b * a.outBatchStride + i * a.outRowStride + h * hs;
      for (let d = 0; d < D; d++) out[oi + d] = acc[d];
    }
  }
}
