/**
 * Sentence embeddings from token states, sentence-transformers' conventions:
 *   mean: Σ(h·mask) / max(Σmask, 1e-9); cls: h[:, 0]; normalize: x / max(‖x‖₂, 1e-12).
 * hidden (batch, length, dim), mask (batch, length) -> (batch, dim)
 */
export function meanPool(hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  return weightedPool(hidden, mask, batch, length, dim, () => 1, (n) => Math.max(n, 1e-9));
}

/** Max over real tokens (sentence-transformers' pooling_mode_max_tokens). */
export function maxPool(hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim).fill(-Infinity);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < length; i++) {
      if (!mask[b * length + i]) continue;
      const row = (b * length + i) * dim;
      for (let d = 0; d < dim; d++) out[b * dim + d] = Math.max(out[b * dim + d], hidden[row + d]);
    }
  return out;
}

/** Rows of x (rows, dim) scaled to unit L2 norm, in place. */
export function l2Normalize(x: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r * dim + d] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < dim; d++) x[r * dim + d] *= inv;
  }
  return x;
}

/** cos(a, b) = a·b / (|a| |b|): sentence-transformers' util.cos_sim for two vectors. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** sentence-transformers' pooling modes, by the names its Pooling config uses. */
export const POOLING_MODES = ['cls', 'mean', 'max', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

/**
 * Σ wᵢ·hᵢ / denom(Σ wᵢ) over real tokens, weights from `weight(i)` (position i): mean (w = 1, denom = max(·, 1e-9)),
 * mean_sqrt_len_tokens (denom = √max(·, 1e-9)), weightedmean (w = i + 1).
 */
function weightedPool(hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number, weight: (i: number) => number, denom: (total: number) => number): Float32Array {
  const out = new Float32Array(batch * dim);
  const acc = new Float64Array(dim);
  for (let b = 0; b < batch; b++) {
    acc.fill(0);
    let total = 0;
    for (let i = 0; i < length; i++) {
      const w = mask[b * length + i] * weight(i);
      if (!w) continue;
      total += w;
      const row = (b * length + i) * dim;
      for (let d = 0; d < dim; d++) acc[d] += hidden[row + d] * w;
    }
    const z = denom(total);
    for (let d = 0; d < dim; d++) out[b * dim + d] = acc[d] / z;
  }
  return out;
}

/** The state of each row's last real token (left or right padding alike). */
function lastTokenPool(hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    let last = 0;
    for (let i = 0; i < length; i++) if (mask[b * length + i]) last = i;
    out.set(hidden.subarray((b * length + last) * dim, (b * length + last + 1) * dim), b * dim);
  }
  return out;
}

/** sentence-transformers' cls mode: position 0 (what `token_embeddings[:, 0]` reads). */
export function clsPool(hidden: Float32Array, batch: number, length: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) out.set(hidden.subarray(b * length * dim, b * length * dim + dim), b * dim);
  return out;
}

/** hidden (batch, length, dim), mask (batch, length) -> (batch, dim), as sentence-transformers' Pooling. */
export function pool(mode: PoolingMode, hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  switch (mode) {
    case 'cls':
      return clsPool(hidden, batch, length, dim);
    case 'max':
      return maxPool(hidden, mask, batch, length, dim);
    case 'mean':
      return meanPool(hidden, mask, batch, length, dim);
    case 'mean_sqrt_len_tokens':
      return weightedPool(hidden, mask, batch, length, dim, () => 1, (n) => Math.sqrt(Math.max(n, 1e-9)));
    case 'weightedmean':
      return weightedPool(hidden, mask, batch, length, dim, (i) => i + 1, (n) => Math.max(n, 1e-9));
    case 'lasttoken':
      return lastTokenPool(hidden, mask, batch, length, dim);
  }
}
