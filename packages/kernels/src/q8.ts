import { PANEL, storer, type LinearArgs, type RowReader } from './linear.js';

/**
 * 8-bit linear layers (dtype q8), after onnxruntime's dynamic quantization:
 * - weights once, at load: symmetric, w_jk = round(W_jk / s_jg) in [-127, 127], s_jg = max|W_j·| / 127 over a
 *   group g of `group` consecutive inputs of column j: the whole (padded) row for encoders (one scale per output
 *   channel), 32 inputs for decoders, whose matrices have rare large weights that one scale per row would let
 *   crush the rest;
 * - activations at every call, per row: asymmetric to 0..127 with a zero point, q_ik = round(x_ik / t_i) + z_i.
 *   Seven bits, not eight: WebAssembly's relaxed integer dot products (`i16x8.relaxed_dot_i8x16_i7x16_s`, which
 *   the kernel uses) read their second operand as unsigned on x86 and as signed on ARM, so only 0..127 means the
 *   same on both;
 * - out_ij = t_i · (Σ_g s_jg · Σ_{k∈g} q_ik·w_jk − z_i · o_j), o_j = Σ_g s_jg · Σ_{k∈g} w_jk (the zero point's share,
 *   computed at load): the inner sums are integers, exact in any order, and the float steps run in one fixed
 *   order, so the relaxed build and the portable one give identical bits. Subtracting the zero point's share once
 *   per column, not per group, keeps a group's epilogue to a conversion and a multiply-add.
 *
 * W's layout: K padded to Kp, a multiple of 4 (zeros), and panels of 8 output columns; panel p, k-step s (4
 * consecutive k) is 32 bytes, columns 0–3 then 4–7, each column's 4 k in order. One 16-byte load is 4 columns × 4
 * k: one dot product gives 4 lanes of 4 multiply-adds each. Scales: per panel, group and
 * column, (p · groups + g) · 8 + c, so a panel's are a vector per group.
 */
const STEP = 4;
/** Inputs per weight scale for decoders' matrices (as llama.cpp's Q8_0). */
export const Q8_DECODER_GROUP = 32;

export const paddedK = (K: number) => Math.ceil(K / STEP) * STEP;
/** Columns rounded up to whole panels: scales and sums are padded too, so the kernel reads them as vectors. */
export const paddedN = (N: number) => Math.ceil(N / PANEL) * PANEL;
/** Groups of a row: the last one may be shorter (a multiple of 4 all the same, as Kp is). */
export const q8Groups = (K: number, group: number) => Math.ceil(paddedK(K) / group);

/** Where w_jk is in the packed bytes. */
export function q8Index(j: number, k: number, Kp: number): number {
  return q8Column(j, Kp) + (k & ~3) * PANEL + (k & 3);
}

/** Where column j's first 4 weights are; its next 4 are PANEL · 4 bytes on. */
const q8Column = (j: number, Kp: number) => Math.floor(j / PANEL) * Kp * PANEL + (j & 7) * 4;

/** Where the scale of column j's group g is, of `groups` per row. */
export const q8ScaleIndex = (j: number, g: number, groups: number) => (Math.floor(j / PANEL) * groups + g) * PANEL + (j & 7);

export interface Q8Weights {
  /** Packed panels, paddedN(N) · Kp bytes. */
  values: Int8Array;
  /** s_jg, paddedN(N) · groups (zero past N). */
  scales: Float32Array;
  /** o_j, paddedN(N): what the activations' zero point adds to each column's dot product, per unit of zero point. */
  offsets: Float32Array;
  /** Inputs per scale, a multiple of 4; paddedK(K) for one scale per output channel. */
  group: number;
}

/** Checks a group size, which comes from code or options, never from a file. */
function checkGroup(group: number, K: number): number {
  if (!Number.isInteger(group) || group < 4 || group % STEP !== 0) throw new RangeError(`q8 group: expected a positive multiple of ${STEP}, got ${group}`);
  return Math.min(group, paddedK(K));
}

/** Quantizes W (N, K), read a row at a time (any stored precision), packed for the kernel. */
export function quantizeWeights(weight: RowReader, N: number, K: number, group = paddedK(K)): Q8Weights {
  return packQ8(quantizeRowsQ8(weight, N, K, group), N, K);
}

/** Quantizes W (N, K), read a row at a time, into rows; `group` inputs share a scale (default: the whole row). */
export function quantizeRowsQ8(weight: RowReader, N: number, K: number, group = paddedK(K)): Q8Rows {
  const Kp = paddedK(K), G = checkGroup(group, K), groups = q8Groups(K, G);
  const rows = new Int8Array(N * Kp), scales = new Float32Array(N * groups);
  const row = new Float32Array(K);
  for (let j = 0; j < N; j++) {
    weight(j, row);
    for (let g = 0; g < groups; g++) {
      const end = Math.min(K, (g + 1) * G);
      let max = 0;
      for (let k = g * G; k < end; k++) max = Math.max(max, Math.abs(row[k]));
      const scale = Math.fround(max / 127) || 1;
      // roundHalfEven and the clamp written out: this loop runs once per weight of the model, as it loads
      for (let k = g * G; k < end; k++) {
        const v = row[k] / scale;
        let q = Math.round(v);
        if (q - v === 0.5 && (q & 1) !== 0) q--;
        rows[j * Kp + k] = q > 127 ? 127 : q < -127 ? -127 : q;
      }
      scales[j * groups + g] = scale;
    }
  }
  return { rows, scales, group: G };
}

/** Quantized weights as plain rows (N, Kp) with their scales (N, groups): the form that fusing and splitting concatenate. */
export interface Q8Rows {
  rows: Int8Array;
  scales: Float32Array;
  group: number;
}

export function packQ8(q: Q8Rows, N: number, K: number): Q8Weights {
  const Kp = paddedK(K), groups = q8Groups(K, q.group);
  const out: Q8Weights = { values: new Int8Array(paddedN(N) * Kp), scales: new Float32Array(paddedN(N) * groups), offsets: new Float32Array(paddedN(N)), group: q.group };
  for (let j = 0; j < N; j++) {
    copyColumn(out.values, q8Column(j, Kp), PANEL * 4, q.rows, j * Kp, 4, Kp);
    let offset = 0;
    for (let g = 0; g < groups; g++) {
      const scale = q.scales[j * groups + g];
      out.scales[q8ScaleIndex(j, g, groups)] = scale;
      let sum = 0;
      for (let k = g * q.group; k < Math.min(Kp, (g + 1) * q.group); k++) sum += q.rows[j * Kp + k];
      offset = Math.fround(offset + Math.fround(scale * sum));
    }
    out.offsets[j] = offset;
  }
  return out;
}

export function unpackQ8(q: Q8Weights, N: number, K: number): Q8Rows {
  const Kp = paddedK(K), groups = q8Groups(K, q.group);
  const out: Q8Rows = { rows: new Int8Array(N * Kp), scales: new Float32Array(N * groups), group: q.group };
  for (let j = 0; j < N; j++) {
    copyColumn(out.rows, j * Kp, 4, q.values, q8Column(j, Kp), PANEL * 4, Kp);
    for (let g = 0; g < groups; g++) out.scales[j * groups + g] = q.scales[q8ScaleIndex(j, g, groups)];
  }
  return out;
}

/** Kp bytes of one column, 4 at a time, from `from` (4-byte steps `fromStep` apart) to `to` (`toStep` apart). */
function copyColumn(to: Int8Array, at: number, toStep: number, from: Int8Array, start: number, fromStep: number, Kp: number): void {
  for (let k = 0, d = at, s = start; k < Kp; k += 4, d += toStep, s += fromStep) {
    to[d] = from[s];
    to[d + 1] = from[s + 1];
    to[d + 2] = from[s + 2];
    to[d + 3] = from[s + 3];
  }
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

/** As a float linear's arguments, with the weights' group; x is the quantized rows (Kp bytes each, Kp = paddedK(K)). */
export type LinearQ8Args = Omit<LinearArgs, 'packed' | 'weightType' | 'xStride'> & { group: number };

/**
 * Readable reference: out (M, N) = act(dequantized dot products + bias) [* gate] [+ residual], from quantized
 * rows (quantizeRows) and weights (quantizeWeights), with the float steps in the kernel's order.
 */
export function linearQ8(
  out: Float32Array, xq: Int8Array, params: Float32Array, w: Omit<Q8Weights, 'group'>, bias: Float32Array | undefined,
  gate: Float32Array | undefined, residual: Float32Array | undefined, args: LinearQ8Args,
): void {
  const Kp = paddedK(args.K), N = args.N, G = args.group, groups = q8Groups(args.K, G);
  const f = Math.fround;
  const store = storer(out, bias, gate, residual, args.activation ?? 0, args.outStride ?? N);
  for (let i = args.rowStart ?? 0; i < (args.rowEnd ?? args.M); i++) {
    const step = params[2 * i], zero = params[2 * i + 1];
    for (let j = args.colStart ?? 0; j < (args.colEnd ?? N); j++) {
      let y = 0;
      for (let g = 0; g < groups; g++) {
        let acc = 0;
        for (let k = g * G; k < Math.min(Kp, (g + 1) * G); k++) acc += xq[i * Kp + k] * w.values[q8Index(j, k, Kp)];
        y = f(y + f(f(acc) * w.scales[q8ScaleIndex(j, g, groups)]));
      }
      store(i, j, f(f(y - f(zero * w.offsets[j])) * step));
    }
  }
}

/** As linearQ8's arguments, x in float32 rows (xStride apart). */
export type LinearQ8FloatArgs = Omit<LinearArgs, 'packed' | 'weightType'> & { group: number };

/**
 * Readable reference of the weight-only kernel: out (M, N) = act(x · dequantized Wᵀ + bias) [* gate] [+ residual]
 * from float x and q8 weights, summed as the kernel sums: per group, four lanes of partial sums (lane t takes k ≡ t
 * mod 4), added as (l0 + l2) + (l1 + l3), scaled and added to the total, every step rounded to float32.
 */
export function linearQ8Float(
  out: Float32Array, x: Float32Array, w: Pick<Q8Weights, 'values' | 'scales'>, bias: Float32Array | undefined,
  gate: Float32Array | undefined, residual: Float32Array | undefined, args: LinearQ8FloatArgs,
): void {
  const { K, N, group: G } = args;
  const Kp = paddedK(K), groups = q8Groups(K, G), xs = args.xStride ?? K, f = Math.fround;
  const store = storer(out, bias, gate, residual, args.activation ?? 0, args.outStride ?? N);
  const lanes = [0, 0, 0, 0];
  for (let i = args.rowStart ?? 0; i < (args.rowEnd ?? args.M); i++) {
    for (let j = args.colStart ?? 0; j < (args.colEnd ?? N); j++) {
      let y = 0;
      for (let g = 0; g < groups; g++) {
        lanes.fill(0);
        for (let k = g * G; k < Math.min(Kp, (g + 1) * G); k++) lanes[k & 3] = f(lanes[k & 3] + f((k < K ? x[i * xs + k] : 0) * w.values[q8Index(j, k, Kp)]));
        const sum = f(f(lanes[0] + lanes[2]) + f(lanes[1] + lanes[3]));
        y = f(y + f(sum * w.scales[q8ScaleIndex(j, g, groups)]));
      }
      store(i, j, y);
    }
  }
}
