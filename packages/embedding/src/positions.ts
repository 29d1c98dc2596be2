import { Tensor, type SharedArena } from '@attnflow/tensor';

/** How a model tells positions apart. */
export type PositionKind =
  /** A learned table (BERT, GPT-2); BART reads row position + 2, RoBERTa row position + padding_idx + 1. */
  | { kind: 'learned'; offset: number }
  /** The paper's fixed sinusoids, not stored in checkpoints (Marian); see sinusoidalTable. */
  | { kind: 'sinusoidal'; offset: number }
  /** No absolute positions (T5 uses a relative bias inside attention instead). */
  | { kind: 'none' };

/**
 * (rows, dim) table: row p, j < dim/2: column j = sin(p / 10000^(2j/dim)), column dim/2 + j = the cosine —
 * all sines then all cosines, as Marian (Hugging Face) lays them out, not interleaved as in the paper's formula.
 */
export function sinusoidalTable(rows: number, dim: number, arena?: SharedArena): Tensor<'float32'> {
  const t = Tensor.zeros('float32', [rows, dim], arena);
  const d = t.data;
  const half = Math.floor(dim / 2);
  const sinWidth = dim - half; // odd widths put the extra column in the sine block
  for (let p = 0; p < rows; p++) {
    for (let j = 0; j < sinWidth; j++) {
      const angle = p / Math.pow(10000, (2 * j) / dim);
      d[p * dim + j] = Math.sin(angle);
      if (j < half) d[p * dim + sinWidth + j] = Math.cos(angle);
    }
  }
  return t;
}

/** Position ids for right-padded rows: 0..length-1 in every row. */
export function rangePositions(batch: number, length: number, start = 0): Int32Array {
  const out = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) for (let i = 0; i < length; i++) out[b * length + i] = start + i;
  return out;
}

/** Position ids for left-padded rows (GPT-2 batches): max(cumsum(mask) - 1, 0), as Hugging Face computes them. */
export function maskedPositions(mask: Int32Array, batch: number, length: number): Int32Array {
  const out = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    let seen = 0;
    for (let i = 0; i < length; i++) {
      seen += mask[b * length + i];
      out[b * length + i] = Math.max(seen - 1, 0);
    }
  }
  return out;
}

/**
 * fairseq's sinusoids (M2M100, NLLB): row p, half = ⌊dim/2⌋, k < half: column k = sin(p·f_k), column half + k =
 * cos(p·f_k), f_k = exp(−k·ln(10000)/(half − 1)) — note half − 1, unlike sinusoidalTable; an odd width gets a zero
 * last column, and row paddingIdx is all zeros (padding reads it).
 */
export function fairseqSinusoidalTable(rows: number, dim: number, paddingIdx: number, arena?: SharedArena): Tensor<'float32'> {
  const t = Tensor.zeros('float32', [rows, dim], arena);
  const d = t.data;
  const half = Math.floor(dim / 2);
  const step = Math.log(10000) / (half - 1);
  for (let p = 0; p < rows; p++) {
    if (p === paddingIdx) continue;
    for (let k = 0; k < half; k++) {
      const angle = p * Math.exp(-k * step);
      d[p * dim + k] = Math.sin(angle);
      d[p * dim + half + k] = Math.cos(angle);
    }
  }
  return t;
}

/**
 * Position ids from the ids themselves (RoBERTa, MPNet, M2M100): m = id ≠ paddingIdx, position = paddingIdx +
 * (cumsum(m) + past)·m — real tokens count on from paddingIdx + 1, padding reads row paddingIdx.
 */
export function paddingPositions(ids: Int32Array, batch: number, length: number, paddingIdx: number, past = 0): Int32Array {
  const out = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    let seen = past;
    for (let i = 0; i < length; i++) {
      const t = b * length + i;
      out[t] = ids[t] !== paddingIdx ? paddingIdx + ++seen : paddingIdx;
    }
  }
  return out;
}
