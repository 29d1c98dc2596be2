import { PANEL, storer, type LinearArgs, type RowReader } from './linear.js';

/**
 * 8-bit linear layers (dtype q8), after onnxruntime's dynamic quantization:
 * - weights once, at load: symmetric per output channel, w_jk = round(W_jk / s_j) in [-127, 127], s_j = max|W_j| / 127;
 * - activations at every call, per row: asymmetric to 0..127 with a zero point, q_ik = round(x_ik / t_i) + z_i.
 *   Seven bits, not eight: WebAssembly's relaxed integer dot product (`i32x4.relaxed_dot_i8x16_i7x16_add_s`)
 *   reads its second operand as unsigned on x86 and as signed on ARM, so only 0..127 means the same on both;
 * - out_ij = t_i · s_j · (Σ_k q_ik·w_jk − z_i·Σ_k w_jk): the sums are integers, exact in any order, so the
 *   relaxed build and the portable one give identical bits.
 *
 * W's layout: K padded to Kp, a multiple of 4 (zeros), and panels of 8 output columns; panel p, k-step s (4
 * consecutive k) is 32 bytes, columns 0–3 then 4–7, each column's 4 k in order. One 16-byte load is 4 columns × 4
 * k, the operand of one dot-product instruction (4 lanes of 4 multiply-adds each).
 */
const STEP = 4;

export const paddedK = (K: number) => Math.ceil(K / STEP) * STEP;
/** Columns rounded up to whole panels: scales and sums are padded too, so the kernel reads them as vectors. */
export const paddedN = (N: number) => Math.ceil(N / PANEL) * PANEL;

/** Where w_jk is in the packed bytes. */
export function q8Index(j: number, k: number, Kp: number): number {
  return ((Math.floor(j / PANEL) * Kp + (k & ~3)) * PANEL) + (j & 4) * 4 + (j & 3) * 4 + (k & 3);
}

export interface Q8Weights {
  /** Packed panels, paddedN(N) · Kp bytes. */
  values: Int8Array;
  /** s_j, paddedN(N) (zero past N). */
  scales: Float32Array;
  /** Σ_k w_jk, paddedN(N): what the activations' zero point adds to each dot product. */
  sums: Int32Array;
}

/** Quantizes W (N, K), read a row at a time (any stored precision), packed for the kernel. */
export function quantizeWeights(weight: RowReader, N: number, K: number): Q8Weights {
  return packQ8(quantizeRowsQ8(weight, N, K), N, K);
}

/** Quantizes W (N, K), read a row at a time, into rows. */
export function quantizeRowsQ8(weight: RowReader, N: number, K: number): Q8Rows {
  const Kp = paddedK(K);
  const rows = new Int8Array(N * Kp), scales = new Float32Array(N), sums = new Int32Array(N);
  const row = new Float32Array(K);
  for (let j = 0; j < N; j++) {
    weight(j, row);
    let max = 0;
    for (let k = 0; k < K; k++) max = Math.max(max, Math.abs(row[k]));
    const scale = Math.fround(max / 127) || 1;
    for (let k = 0; k < K; k++) {
      const q = Math.max(-127, Math.min(127, roundHalfEven(row[k] / scale)));
      rows[j * Kp + k] = q;
      sums[j] += q;
    }
    scales[j] = scale;
  }
  return { rows, scales, sums };
}

/** Quantized weights as plain rows (N, Kp) with N scales and sums: the form that fusing and splitting concatenate. */
export interface Q8Rows {
  rows: Int8Array;
  scales: Float32Array;
  sums: Int32Array;
}

export function packQ8(q: Q8Rows, N: number, K: number): Q8Weights {
  const Kp = paddedK(K);
  const out: Q8Weights = { values: new Int8Array(paddedN(N) * Kp), scales: new Float32Array(paddedN(N)), sums: new Int32Array(paddedN(N)) };
  for (let j = 0; j < N; j++) for (let k = 0; k < Kp; k++) out.values[q8Index(j, k, Kp)] = q.rows[j * Kp + k];
  out.scales.set(q.scales.subarray(0, N));
  out.sums.set(q.sums.subarray(0, N));
  return out;
}

export function unpackQ8(q: Q8Weights, N: number, K: number): Q8Rows {
  const Kp = paddedK(K);
  const rows = new Int8Array(N * Kp);
  for (let j = 0; j < N; j++) for (let k = 0; k < Kp; k++) rows[j * Kp + k] = q.values[q8Index(j, k, Kp)];
  return { rows, scales: q.scales.slice(0, N), sums: q.sums.slice(0, N) };
}

/** Rounds to the nearest integer, ties to even: what WebAssembly's `f32x4.nearest` does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface QuantizeRowsArgs {
  rows: number;
  K: number;
  xStride?: number;
  rowStart?: number;
  rowEnd?: number;
}

/**
 * Rows of x (rows, K) to 0..127 in xq (rows, Kp), with params[2i] = t_i (the step) and params[2i + 1] = z_i (the
 * zero point). The range always holds 0, so zero padding and exact zeros stay exact. Each float operation is
 * rounded to float32 as the WebAssembly kernel rounds it, so both give the same bytes.
 */
export function quantizeRows(xq: Int8Array, params: Float32Array, x: Float32Array, args: QuantizeRowsArgs): void {
  const { K } = args;
  const Kp = paddedK(K), xs = args.xStride ?? K;
  const f = Math.fround;
  for (let i = args.rowStart ?? 0; i < (args.rowEnd ?? args.rows); i++) {
    let lo = 0, hi = 0;
    for (let k = 0; k < K; k++) {
      lo = Math.min(lo, x[i * xs + k]);
      hi = Math.max(hi, x[i * xs + k]);
    }
    const step = f(f(hi - lo) / 127) || 1;
    const inv = f(1 / step);
    const zero = Math.min(127, Math.max(0, roundHalfEven(f(-lo * inv))));
    params[2 * i] = step;
    params[2 * i + 1] = zero;
    for (let k = 0; k < Kp; k++) {
      xq[i * Kp + k] = k < K ? Math.min(127, Math.max(0, roundHalfEven(f(x[i * xs + k] * inv)) + zero)) : 0;
    }
  }
}

/** As a float linear's arguments; x is the quantized rows (Kp bytes each, Kp = paddedK(K)). */
export type LinearQ8Args = Omit<LinearArgs, 'packed' | 'weightType' | 'xStride'>;

/**
 * Readable reference: out (M, N) = act(dequantized dot products + bias) [* gate] [+ residual], from quantized
 * rows (quantizeRows) and weights (quantizeWeights), with the float steps in the kernel's order.
 */
export function linearQ8(
  out: Float32Array, xq: Int8Array, params: Float32Array, w: Q8Weights, bias: Float32Array | undefined,
  gate: Float32Array | undefined, residual: Float32Array | undefined, args: LinearQ8Args,
): void {
  const Kp = paddedK(args.K), N = args.N;
  const store = storer(out, bias, gate, residual, args.activation ?? 0, args.outStride ?? N);
  for (let i = args.rowStart ?? 0; i < (args.rowEnd ?? args.M); i++) {
    const step = params[2 * i], zero = params[2 * i + 1];
    for (let j = args.colStart ?? 0; j < (args.colEnd ?? N); j++) {
      let acc = 0;
      for (let k = 0; k < Kp; k++) acc += xq[i * Kp + k] * w.values[q8Index(j, k, Kp)];
      const t = Math.fround(acc - zero * w.sums[j]);
      store(i, j, Math.fround(Math.fround(t * w.scales[j]) * step));
    }
  }
}
