import { PANEL, storer, type LinearArgs, type RowReader } from './linear.js';
import { roundHalfEven } from './q8.js';

/**
 * 4-bit weights (dtype q4), weight-only: what decoding needs, since one token reads every weight once and the
 * bytes read set the speed. Groups of 32 consecutive inputs of an output column share a float32 scale:
 * q = clamp(round(W / s), -7, 7) + 8 in a nibble (1..15), s = max|W| / 7 over the group. The kernel widens the
 * nibbles to float32 in registers and multiplies in float32: x stays float, so there is no activation error.
 * 0.625 bytes a weight (a nibble, plus 4 bytes of scale per 32), against 2 for bfloat16.
 *
 * Layout: K padded to Kp, a multiple of 32 (zero weights: nibble 8), and panels of 8 output columns. Panel p holds
 * 4 bytes per k, byte c (0..3) with column c in its low nibble and column c + 4 in its high one, so a 16-byte load
 * is 4 k × 8 columns; scales[(p · Kp/32 + g) · 8 + c] is the scale of group g of column 8p + c.
 */
export const Q4_GROUP = 32;

export const paddedK4 = (K: number) => Math.ceil(K / Q4_GROUP) * Q4_GROUP;
const panels = (N: number) => Math.ceil(N / PANEL);

export interface Q4Weights {
  /** Packed nibbles, panels(N) · 8 · Kp / 2 bytes. */
  values: Uint8Array;
  /** Per panel, group and column: panels(N) · (Kp / 32) · 8. */
  scales: Float32Array;
}

/** Quantized weights as rows: one byte per weight (the nibble's value, 1..15) and Kp/32 scales per row. */
export interface Q4Rows {
  rows: Uint8Array;
  scales: Float32Array;
}

/** Quantizes W (N, K), read a row at a time, into rows. */
export function quantizeRowsQ4(weight: RowReader, N: number, K: number): Q4Rows {
  const Kp = paddedK4(K), G = Kp / Q4_GROUP;
  const out: Q4Rows = { rows: new Uint8Array(N * Kp).fill(8), scales: new Float32Array(N * G) };
  const row = new Float32Array(K);
  for (let j = 0; j < N; j++) {
    weight(j, row);
    for (let g = 0; g < G; g++) {
      const end = Math.min(K, (g + 1) * Q4_GROUP);
      let max = 0;
      for (let k = g * Q4_GROUP; k < end; k++) max = Math.max(max, Math.abs(row[k]));
      const scale = Math.fround(max / 7) || 1;
      for (let k = g * Q4_GROUP; k < end; k++) out.rows[j * Kp + k] = Math.max(-7, Math.min(7, roundHalfEven(row[k] / scale))) + 8;
      out.scales[j * G + g] = scale;
    }
  }
  return out;
}

/** Where weight (j, k)'s nibble is: its byte, and whether it is the high nibble. */
function nibble(j: number, k: number, Kp: number): [byte: number, high: boolean] {
  return [Math.floor(j / PANEL) * PANEL * Kp / 2 + k * 4 + (j & 3), (j & 4) !== 0];
}
const scaleIndex = (j: number, g: number, Kp: number) => (Math.floor(j / PANEL) * (Kp / Q4_GROUP) + g) * PANEL + (j & 7);

export function packQ4(q: Q4Rows, N: number, K: number): Q4Weights {
  const Kp = paddedK4(K), G = Kp / Q4_GROUP;
  const out: Q4Weights = { values: new Uint8Array(panels(N) * PANEL * Kp / 2).fill(0x88), scales: new Float32Array(panels(N) * G * PANEL) };
  for (let j = 0; j < N; j++) {
    for (let k = 0; k < Kp; k++) {
      const [byte, high] = nibble(j, k, Kp);
      const v = q.rows[j * Kp + k];
      out.values[byte] = high ? (out.values[byte] & 0x0f) | (v << 4) : (out.values[byte] & 0xf0) | v;
    }
    for (let g = 0; g < G; g++) out.scales[scaleIndex(j, g, Kp)] = q.scales[j * G + g];
  }
  return out;
}

export function unpackQ4(q: Q4Weights, N: number, K: number): Q4Rows {
  const Kp = paddedK4(K), G = Kp / Q4_GROUP;
  const out: Q4Rows = { rows: new Uint8Array(N * Kp), scales: new Float32Array(N * G) };
  for (let j = 0; j < N; j++) {
    for (let k = 0; k < Kp; k++) {
      const [byte, high] = nibble(j, k, Kp);
      out.rows[j * Kp + k] = high ? q.values[byte] >> 4 : q.values[byte] & 0x0f;
    }
    for (let g = 0; g < G; g++) out.scales[j * G + g] = q.scales[scaleIndex(j, g, Kp)];
  }
  return out;
}

/** As a float linear's arguments, without the float weights' layout and storage. */
export type LinearQ4Args = Omit<LinearArgs, 'packed' | 'weightType'>;

/**
 * Readable reference: out (M, N) = act(x · dequantized Wᵀ + bias) [* gate] [+ residual], summed as the kernel
 * sums (each group in k order, then scaled into the total) with every step rounded to float32.
 */
export function linearQ4(
  out: Float32Array, x: Float32Array, w: Q4Weights, bias: Float32Array | undefined,
  gate: Float32Array | undefined, residual: Float32Array | undefined, args: LinearQ4Args,
): void {
  const { K, N } = args;
  const Kp = paddedK4(K), xs = args.xStride ?? K, f = Math.fround;
  const store = storer(out, bias, gate, residual, args.activation ?? 0, args.outStride ?? N);
  for (let i = args.rowStart ?? 0; i < (args.rowEnd ?? args.M); i++) {
    for (let j = args.colStart ?? 0; j < (args.colEnd ?? N); j++) {
      let acc = 0;
      for (let g = 0; g < Kp / Q4_GROUP; g++) {
        let sum = 0;
        for (let k = g * Q4_GROUP; k < Math.min(K, (g + 1) * Q4_GROUP); k++) {
          const [byte, high] = nibble(j, k, Kp);
          const q = (high ? w.values[byte] >> 4 : w.values[byte] & 0x0f) - 8;
          sum = f(sum + f(x[i * xs + k] * q));
        }
        acc = f(acc + f(sum * w.scales[scaleIndex(j, g, Kp)]));
      }
      store(i, j, acc);
    }
  }
}
