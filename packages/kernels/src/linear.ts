import { bfloat16ToFloat, F16_TO_F32 } from '@attnflow/tensor';
import { applyActivation } from './activation.js';

/**
 * The one GEMM form every layer uses:
 *   out (M, N) = act(x (M, K) @ Wᵀ + bias (N,)) [* gate (M, N)] [+ residual (M, N)]
 * W is either PyTorch `nn.Linear` rows (N, K), or — `packed` — in panels of PANEL output columns: panel p holds
 * W[PANEL·p + c, k] at (p·K + k)·PANEL + c, zero past N (see packPanels). Loaded layers are packed (the SIMD
 * kernel reads a panel as two vectors per k); weights shared with an embedding table stay rows.
 * Rows `rowStart..rowEnd` only, so a worker can take a slice. `x` and `out` rows may be strided (xStride,
 * outStride ≥ K, N) to read a column block of a wider tensor without a copy.
 * W may hold bfloat16 or float16 bits (weightType): each weight is widened to float32 as it is read, so a
 * half-precision checkpoint stays 2 bytes a weight in memory and the arithmetic is float32 throughout.
 */
export const PANEL = 8;

/** How W's elements are stored; the number is what a task message carries. */
export const WeightType = { float32: 0, bfloat16: 1, float16: 2 } as const;
export type WeightType = (typeof WeightType)[keyof typeof WeightType];
export type WeightArray = Float32Array | Uint16Array;

/** Writes row j of a (N, K) weight into `row` (length K) as float32 values. */
export type RowReader = (j: number, row: Float32Array) => void;

/** The rows of a weight stored as `type`, plain (N, K) rows or packed panels, widened to float32 one row at a time. */
export function weightRows(w: WeightArray, type: number | undefined, K: number, packed: boolean | undefined): RowReader {
  const read = weightReader(w, type);
  return (j, row) => {
    const [base, step] = weightRow(j, K, packed);
    for (let k = 0; k < K; k++) row[k] = read(base + k * step);
  };
}

/** W[i] as a float32 value, for W stored as `type`. */
function weightReader(w: WeightArray, type: number | undefined): (i: number) => number {
  if (type === WeightType.bfloat16) return (i) => bfloat16ToFloat(w[i]);
  if (type === WeightType.float16) return (i) => F16_TO_F32[w[i]];
  return (i) => w[i];
}

export interface LinearArgs {
  M: number;
  K: number;
  N: number;
  packed?: boolean;
  xStride?: number;
  outStride?: number;
  activation?: number;
  /** WeightType of W (default float32). */
  weightType?: number;
  rowStart?: number;
  rowEnd?: number;
  /** Output columns colStart..colEnd only (a worker's share when there are few rows). */
  colStart?: number;
  colEnd?: number;
}

/** out[i, j] = act(acc + bias[j]) [* gate[i, j]] [+ residual[i, j]]: the epilogue both GEMMs share. */
export function storer(out: Float32Array, bias: Float32Array | undefined, gate: Float32Array | undefined, residual: Float32Array | undefined, activation: number, os: number) {
  return (i: number, j: number, acc: number) => {
    let y = applyActivation(activation, acc + (bias ? bias[j] : 0));
    if (gate) y *= gate[i * os + j];
    if (residual) y += residual[i * os + j];
    out[i * os + j] = y;
  };
}

/** Where W[j, 0] is and how far apart W[j, k] and W[j, k + 1] are, in either layout. */
function weightRow(j: number, K: number, packed: boolean | undefined): [base: number, step: number] {
  return packed ? [Math.floor(j / PANEL) * PANEL * K + (j % PANEL), PANEL] : [j * K, 1];
}

/** Readable reference: one dot product per output element. */
export function linearReference(
  out: Float32Array, x: Float32Array, weights: WeightArray, bias: Float32Array | undefined,
  gate: Float32Array | undefined, residual: Float32Array | undefined, args: LinearArgs,
): void {
  const { K, N } = args;
  const w = weightReader(weights, args.weightType);
  const xs = args.xStride ?? K;
  const store = storer(out, bias, gate, residual, args.activation ?? 0, args.outStride ?? N);
  for (let i = args.rowStart ?? 0; i < (args.rowEnd ?? args.M); i++) {
    for (let j = args.colStart ?? 0; j < (args.colEnd ?? N); j++) {
      const [base, step] = weightRow(j, K, args.packed);
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[i * xs + k] * w(base + k * step);
      store(i, j, acc);
    }
  }
}

/**
 * Fast JavaScript version: a 4×4 register tile (4 rows of x against 4 columns of W share every load), k
 * innermost. Same results as the reference up to summation order.
 */
export function linear(
  out: Float32Array, x: Float32Array, weights: WeightArray, bias: Float32Array | undefined,
  gate: Float32Array | undefined, residual: Float32Array | undefined, args: LinearArgs,
): void {
  const { K, N } = args;
  const w = weightReader(weights, args.weightType);
  const xs = args.xStride ?? K;
  const rowStart = args.rowStart ?? 0;
  const rowEnd = args.rowEnd ?? args.M;
  const colStart = args.colStart ?? 0;
  const colEnd = args.colEnd ?? N;
  const store = storer(out, bias, gate, residual, args.activation ?? 0, args.outStride ?? N);
  let i = rowStart;
  for (; i + 4 <= rowEnd; i += 4) {
    const x0 = i * xs, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    let j = colStart;
    for (; j + 4 <= colEnd; j += 4) {
      // 4 columns starting at a multiple of 4 lie in one panel: W[j + c, k] is at w0 + c (packed) or w0 + cK
      const [w0, step] = weightRow(j, K, args.packed);
      const c1 = args.packed ? 1 : K, w1 = w0 + c1, w2 = w1 + c1, w3 = w2 + c1;
      let a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
      let a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
      for (let k = 0, o = 0; k < K; k++, o += step) {
        const b0 = w(w0 + o), b1 = w(w1 + o), b2 = w(w2 + o), b3 = w(w3 + o);
        const c0 = x[x0 + k], c1 = x[x1 + k], c2 = x[x2 + k], c3 = x[x3 + k];
        a00 += c0 * b0; a01 += c0 * b1; a02 += c0 * b2; a03 += c0 * b3;
        a10 += c1 * b0; a11 += c1 * b1; a12 += c1 * b2; a13 += c1 * b3;
        a20 += c2 * b0; a21 += c2 * b1; a22 += c2 * b2; a23 += c2 * b3;
        a30 += c3 * b0; a31 += c3 * b1; a32 += c3 * b2; a33 += c3 * b3;
      }
      store(i, j, a00); store(i, j + 1, a01); store(i, j + 2, a02); store(i, j + 3, a03);
      store(i + 1, j, a10); store(i + 1, j + 1, a11); store(i + 1, j + 2, a12); store(i + 1, j + 3, a13);
      store(i + 2, j, a20); store(i + 2, j + 1, a21); store(i + 2, j + 2, a22); store(i + 2, j + 3, a23);
      store(i + 3, j, a30); store(i + 3, j + 1, a31); store(i + 3, j + 2, a32); store(i + 3, j + 3, a33);
    }
    for (; j < colEnd; j++) {
      for (let r = 0; r < 4; r++) store(i + r, j, dot(x, (i + r) * xs, w, weightRow(j, K, args.packed), K));
    }
  }
  for (; i < rowEnd; i++) {
    for (let j = colStart; j < colEnd; j++) store(i, j, dot(x, i * xs, w, weightRow(j, K, args.packed), K));
  }
}

function dot(a: Float32Array, ai: number, b: (i: number) => number, [bi, step]: [number, number], n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[ai + k] * b(bi + k * step);
  return s;
}

/**
 * W (N, K) rows — or (K, N) when `inOut`, GPT-2's Conv1D layout — into panels (see LinearArgs): ceil(N / PANEL)
 * panels of K × PANEL floats, columns past N zero (the SIMD kernel reads whole panels).
 */
export function packPanels<T extends WeightArray>(w: T, N: number, K: number, inOut = false): T {
  const packed = new (w.constructor as new (n: number) => T)(Math.ceil(N / PANEL) * PANEL * K);
  packPanelsInto(packed, w, N, K, inOut);
  return packed;
}

export function packPanelsInto<T extends WeightArray>(packed: T, w: T, N: number, K: number, inOut = false): void {
  for (let j = 0; j < N; j++) {
    const [base] = weightRow(j, K, true);
    for (let k = 0; k < K; k++) packed[base + k * PANEL] = inOut ? w[k * N + j] : w[j * K + k];
  }
}

/** Panels back to (N, K) rows. */
export function unpackPanels<T extends WeightArray>(packed: T, N: number, K: number): T {
  const rows = new (packed.constructor as new (n: number) => T)(N * K);
  for (let j = 0; j < N; j++) {
    const [base] = weightRow(j, K, true);
    for (let k = 0; k < K; k++) rows[j * K + k] = packed[base + k * PANEL];
  }
  return rows;
}
