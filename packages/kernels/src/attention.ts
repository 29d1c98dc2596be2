/**
 * Multi-head scaled dot-product attention, softmax(Q Kᵀ · scale + bias, masked) V, for every (batch, head)
 * unit in `unitStart..unitEnd` (unit = b * numHeads + h).
 *
 * Layouts (element strides, so that Q/K/V can be column blocks of one fused projection, and K/V can be a cache
 * with spare capacity, all without copies):
 *   q   (batch, qLen, numHeads, headDim)   at b*qBatchStride + i*qRowStride + h*headStride
 *   k,v (batch, kLen, numHeads, headDim)   at b*kvBatchStride + j*kvRowStride + h*headStride
 *   out (batch, qLen, numHeads, headDim)   at b*outBatchStride + i*outRowStride + h*headStride
 *   keyMask      (batch, maskStride)       1 = real token, 0 = padding; key j reads column maskOffset + j
 *   positionBias (numHeads, qLen, kLen)    added after scaling (T5's relative bias); with biasBatchStride,
 *                (batch, numHeads, qLen, kLen) at b*biasBatchStride: a bias that depends on the content
 *                (DeBERTa's disentangled c2p/p2c terms)
 *   probs        (batch, numHeads, qLen, kLen)  optional output: the attention weights
 * Causal: query i sits at absolute position kLen - qLen + i (the cache holds the earlier ones) and sees keys
 * up to it. A masked score takes the value `maskFill` before the softmax: Hugging Face uses the most negative
 * float32, the seed module -1e20 (divided by its scale); either way a masked key gets weight exactly 0, and a
 * row with every key masked comes out uniform.
 * Grouped-query attention (kvHeads < numHeads): query head h reads key/value head h / (numHeads / kvHeads), as
 * Hugging Face's repeat_kv expands them, so a cache holds each key once. A sliding window of W keys lets query
 * i see keys j with i − W < j (Mistral's exclusive lower bound); a soft-cap bends each scaled score to
 * cap·tanh(s / cap) before the mask (Gemma 2).
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
  /** Offset between batch rows of positionBias; 0 (the default) shares one bias by every row. */
  biasBatchStride?: number;
  scale: number;
  causal?: boolean;
  maskFill?: number;
  /** Key/value heads (default numHeads); numHeads must be a multiple. */
  kvHeads?: number;
  /** With causal: each query sees itself and the window − 1 keys before it; 0 = no window. */
  window?: number;
  /** cap·tanh(score / cap) after scaling; 0 = none. */
  softCap?: number;
  /** Columns of a keyMask row (default kLen) and where key 0 sits in it: a trimmed cache drops its oldest keys. */
  maskStride?: number;
  maskOffset?: number;
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
  // Every attribute is read into a local once: the args object arrives with varying shapes (spread per task),
  // and property loads inside the loops would go megamorphic.
  const H = a.numHeads, D = a.headDim, qLen = a.qLen, kLen = a.kLen, scale = a.scale;
  const hs = a.headStride ?? D;
  const biasBatch = a.biasBatchStride ?? 0;
  const fill = a.maskFill ?? MOST_NEGATIVE_F32;
  const qRow = a.qRowStride, kvRow = a.kvRowStride, outRow = a.outRowStride;
  const qBatch = a.qBatchStride, kvBatch = a.kvBatchStride, outBatch = a.outBatchStride;
  const causal = !!a.causal;
  const group = H / (a.kvHeads ?? H);
  const window = a.window ?? 0, cap = a.softCap ?? 0;
  const maskStride = a.maskStride ?? kLen, maskOffset = a.maskOffset ?? 0;
  const unitEnd = a.unitEnd ?? a.batch * H;
  const { out, q, k, v, keyMask, positionBias, probs } = t;
  const scores = new Float64Array(kLen);
  const acc = new Float64Array(D);
  const keep = new Uint8Array(kLen);
  for (let u = a.unitStart ?? 0; u < unitEnd; u++) {
    const b = Math.floor(u / H);
    const h = u % H;
    const kBase = b * kvBatch + Math.floor(h / group) * hs;
    for (let j = 0; j < kLen; j++) keep[j] = keyMask && keyMask[b * maskStride + maskOffset + j] === 0 ? 0 : 1;
    for (let i = 0; i < qLen; i++) {
      const qi = b * qBatch + i * qRow + h * hs;
      const visible = causal ? kLen - qLen + i + 1 : kLen;
      const first = causal && window > 0 ? visible - window : 0;
      const biasRow = b * biasBatch + (h * qLen + i) * kLen;
      // scores (kLen,) = q_i · k_j * scale + bias
      let max = -Infinity;
      for (let j = 0; j < kLen; j++) {
        let s = fill;
        if (j < visible && j >= first && keep[j]) {
          const kj = kBase + j * kvRow;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qi + d] * k[kj + d];
          s = dot * scale;
          if (cap) s = Math.tanh(s / cap) * cap;
          s += positionBias ? positionBias[biasRow + j] : 0;
        }
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < kLen; j++) {
        const e = Math.exp(scores[j] - max);
        scores[j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      // out_i (headDim,) = Σ_j p_ij v_j
      acc.fill(0);
      const probRow = ((b * H + h) * qLen + i) * kLen;
      for (let j = 0; j < kLen; j++) {
        const p = scores[j] * inv;
        if (probs) probs[probRow + j] = p;
        if (p === 0) continue;
        const vj = kBase + j * kvRow;
        for (let d = 0; d < D; d++) acc[d] += p * v[vj + d];
      }
      const oi = b * outBatch + i * outRow + h * hs;
      for (let d = 0; d < D; d++) out[oi + d] = acc[d];
    }
  }
}
