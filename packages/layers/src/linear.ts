import type { Weights } from '@attnflow/checkpoint';
import type { Engine } from '@attnflow/kernels';
import { Tensor, type HalfDType, type Scope } from '@attnflow/tensor';
import { packPanelsInto, packQ8, PANEL, paddedK, quantizeWeights, unpackPanels, unpackQ8, weightAt, WeightType, type Q8Rows, type Q8Weights, type WeightArray } from '@attnflow/kernels';

/** A weight matrix in float32, or in the half precision its checkpoint stores (widened by the kernels). */
export type WeightDType = 'float32' | HalfDType;

/**
 * A weight quantized at load (dtype q8): 8-bit panels with a scale and a sum per output column (the kernels'
 * q8.ts has the layout and the arithmetic).
 */
export interface Q8Weight {
  values: Tensor<'int8'>;
  scales: Tensor<'float32'>;
  sums: Tensor<'int32'>;
}

export const isQ8 = (w: Linear['weight']): w is Q8Weight => 'values' in w;

/**
 * y = x Wᵀ + b. The weight is packed in panels (see LinearArgs) when `packed`, else PyTorch rows
 * (outFeatures, inFeatures): a tied LM head reads the embedding table as it is, without a second copy.
 */
export interface Linear {
  weight: Tensor<WeightDType> | Q8Weight;
  bias?: Tensor<'float32'>;
  inFeatures: number;
  outFeatures: number;
  packed?: boolean;
}

export interface LinearOptions {
  bias?: boolean;
  /** The checkpoint stores (in, out) — GPT-2's Conv1D — and the weight is transposed once at load. */
  transposed?: boolean;
  /** Stays in float when the model loads as q8: a table that an embedding reads too. */
  float?: boolean;
}

/**
 * Loads `<name>.weight` (and `.bias`) under the scope `w`, the weight packed in panels and kept in the precision
 * the checkpoint stores it (float32, bfloat16 or float16) — or quantized to 8 bits when the model loads as q8
 * (`w.quantize`); biases are small and widen to float32.
 */
export function loadLinear(w: Weights, inFeatures: number, outFeatures: number, options: LinearOptions = {}): Linear {
  const bias = options.bias ?? true;
  const stored = w.getStored('weight', options.transposed ? [inFeatures, outFeatures] : [outFeatures, inFeatures]);
  const weight = pack(stored.dtype, stored.data, outFeatures, inFeatures, stored.arena, options.transposed);
  stored.dispose();
  const linear: Linear = { weight, bias: bias ? w.get('bias', [outFeatures]) : undefined, inFeatures, outFeatures, packed: true };
  if (w.quantize === 'q8' && !options.float) quantizeLinear(linear);
  return linear;
}

/**
 * A linear from weight rows already in memory (outFeatures, inFeatures), packed: for checkpoints whose fused
 * weights must be split or reordered first (Phi-3's gate_up_proj, GPT-NeoX's per-head query_key_value).
 */
export function linearFromRows(dtype: WeightDType, rows: WeightArray, inFeatures: number, outFeatures: number, arena: Tensor['arena'], bias?: Tensor<'float32'>, quantize?: 'q8'): Linear {
  const linear: Linear = { weight: pack(dtype, rows, outFeatures, inFeatures, arena), bias, inFeatures, outFeatures, packed: true };
  if (quantize === 'q8') quantizeLinear(linear);
  return linear;
}

function pack(dtype: WeightDType, rows: WeightArray, N: number, K: number, arena: Tensor['arena'], inOut = false): Tensor<WeightDType> {
  const packed = Tensor.zeros(dtype, [Math.ceil(N / PANEL) * PANEL * K], arena);
  packPanelsInto<WeightArray>(packed.data, rows, N, K, inOut);
  return packed;
}

/** The kernels' code for a weight's storage. */
export const weightTypeOf = (t: Tensor<WeightDType>): WeightType => WeightType[t.dtype];

/** The weight in float (any stored precision): for a table that something besides the linear reads. */
export function floatWeight(layer: Linear, what: string): Tensor<WeightDType> {
  if (isQ8(layer.weight)) throw new TypeError(`${what} is quantized (q8) but is read as floats`);
  return layer.weight;
}

function q8Tensors(q: Q8Weights, arena: Tensor['arena']): Q8Weight {
  const values = Tensor.empty('int8', [q.values.length], arena);
  values.data.set(q.values);
  const sums = Tensor.empty('int32', [q.sums.length], arena);
  sums.data.set(q.sums);
  return { values, scales: Tensor.from(q.scales, [q.scales.length], arena), sums };
}

/**
 * Quantizes a packed linear to 8 bits in place (dtype q8), freeing its float weight. Tied weights (rows shared
 * with an embedding table) are left as they are: the embedding reads the same table as floats.
 */
export function quantizeLinear(layer: Linear): void {
  if (!layer.packed || isQ8(layer.weight)) return;
  const float = layer.weight;
  const q = quantizeWeights(weightAt(float.data, weightTypeOf(float), layer.inFeatures, true), layer.outFeatures, layer.inFeatures);
  float.dispose();
  layer.weight = q8Tensors(q, float.arena);
}

/** Frees a linear's tensors. */
export function disposeLinear(layer: Linear): void {
  const w = layer.weight;
  if (isQ8(w)) for (const t of [w.values, w.scales, w.sums]) t.dispose();
  else w.dispose();
  layer.bias?.dispose();
}

/**
 * A linear's weight as output rows in its own form: float rows (N, K) in the stored precision, or 8-bit rows
 * (N, Kp) with a scale and a sum each. Quantization is per output row, so rows can be stacked and cut in either
 * form (fuseLinears, splitLinear) with the same result as quantizing afterwards.
 */
type WeightRows = { dtype: WeightDType; rows: WeightArray } | { dtype: 'q8'; q: Q8Rows };

function rowsOf(layer: Linear): WeightRows {
  const w = layer.weight, N = layer.outFeatures, K = layer.inFeatures;
  if (isQ8(w)) return { dtype: 'q8', q: unpackQ8({ values: w.values.data, scales: w.scales.data, sums: w.sums.data }, N, K) };
  return { dtype: w.dtype, rows: layer.packed ? unpackPanels<WeightArray>(w.data, N, K) : w.data };
}

/** Rows start..end of each part, stacked in order. */
function stackRows(parts: { rows: WeightRows; start: number; end: number }[], K: number): WeightRows {
  const first = parts[0].rows;
  if (parts.some((p) => p.rows.dtype !== first.dtype)) throw new TypeError(`cannot stack linears stored as ${parts.map((p) => p.rows.dtype).join(', ')}`);
  const N = parts.reduce((n, p) => n + p.end - p.start, 0);
  if (first.dtype === 'q8') {
    const Kp = paddedK(K);
    const q: Q8Rows = { rows: new Int8Array(N * Kp), scales: new Float32Array(N), sums: new Int32Array(N) };
    let row = 0;
    for (const { rows, start, end } of parts) {
      if (rows.dtype !== 'q8') continue;
      q.rows.set(rows.q.rows.subarray(start * Kp, end * Kp), row * Kp);
      q.scales.set(rows.q.scales.subarray(start, end), row);
      q.sums.set(rows.q.sums.subarray(start, end), row);
      row += end - start;
    }
    return { dtype: 'q8', q };
  }
  const out = first.dtype === 'float32' ? new Float32Array(N * K) : new Uint16Array(N * K);
  let row = 0;
  for (const { rows, start, end } of parts) {
    if (rows.dtype === 'q8') continue;
    out.set(rows.rows.subarray(start * K, end * K), row * K);
    row += end - start;
  }
  return { dtype: first.dtype, rows: out };
}

function linearOfRows(r: WeightRows, K: number, N: number, arena: Tensor['arena'], bias: Tensor<'float32'> | undefined): Linear {
  const weight = r.dtype === 'q8' ? q8Tensors(packQ8(r.q, N, K), arena) : pack(r.dtype, r.rows, N, K, arena);
  return { weight, bias, inFeatures: K, outFeatures: N, packed: true };
}

const arenaOf = (layer: Linear) => (isQ8(layer.weight) ? layer.weight.values.arena : layer.weight.arena);

/**
 * Stacks linears that read the same input into one (q|k|v → qkv), so one GEMM does the work of three.
 * The parts are freed: the weights still exist once.
 */
export function fuseLinears(parts: Linear[]): Linear {
  const K = parts[0].inFeatures;
  const N = parts.reduce((n, p) => n + p.outFeatures, 0);
  const arena = arenaOf(parts[0]);
  const bias = parts.some((p) => p.bias) ? Tensor.zeros('float32', [N], arena) : undefined;
  const rows = stackRows(parts.map((p) => ({ rows: rowsOf(p), start: 0, end: p.outFeatures })), K);
  let row = 0;
  for (const p of parts) {
    if (p.bias) bias!.data.set(p.bias.data, row);
    row += p.outFeatures;
    disposeLinear(p);
  }
  return linearOfRows(rows, K, N, arena, bias);
}

/** The opposite of fuseLinears: one linear's output rows cut into consecutive parts (ModernBERT's Wi → input | gate). */
export function splitLinear(whole: Linear, sizes: number[]): Linear[] {
  const K = whole.inFeatures;
  const rows = rowsOf(whole);
  const arena = arenaOf(whole);
  let row = 0;
  const parts = sizes.map((n) => {
    const bias = whole.bias ? Tensor.from(whole.bias.data.slice(row, row + n), [n], arena) : undefined;
    const part = linearOfRows(stackRows([{ rows, start: row, end: row + n }], K), K, n, arena, bias);
    row += n;
    return part;
  });
  disposeLinear(whole);
  return parts;
}

export interface LinearCall {
  /** (rows, outFeatures) output; a new tensor of the scope when absent. */
  out?: Tensor<'float32'>;
  activation?: number;
  /** Added after the activation: fuses a residual connection into the projection. */
  residual?: Tensor<'float32'>;
  /** Multiplied after the activation: a gated FFN's second branch. */
  gate?: Tensor<'float32'>;
}

/** x (rows, in) -> (rows, out) on the engine. */
export async function runLinear(engine: Engine, scope: Scope, x: Tensor<'float32'>, layer: Linear, call: LinearCall = {}): Promise<Tensor<'float32'>> {
  const rows = x.size / layer.inFeatures;
  const out = call.out ?? scope.f32([rows, layer.outFeatures]);
  const M = rows, K = layer.inFeatures, N = layer.outFeatures, activation = call.activation ?? 0;
  const w = layer.weight;
  if (isQ8(w)) {
    // the activations quantized per row, then the integer GEMM
    const xq = scope.empty('int8', [rows, paddedK(K)]);
    const params = scope.f32([rows, 2]);
    await engine.run('quantizeRows', { xq, params, x }, { rows, K });
    await engine.run('linearQ8', { out, xq, params, w: w.values, scales: w.scales, sums: w.sums, bias: layer.bias, residual: call.residual, gate: call.gate }, { M, K, N, activation });
    return out;
  }
  await engine.run('linear', { out, x, w, bias: layer.bias, residual: call.residual, gate: call.gate }, {
    M, K, N, activation, packed: layer.packed, weightType: weightTypeOf(w),
  });
  return out;
}
