import type { Quantization, Weights } from '@attnflow/checkpoint';
import type { Engine } from '@attnflow/kernels';
import { Tensor, type HalfDType, type Scope } from '@attnflow/tensor';
import {
  packPanelsInto, packQ4, packQ8, PANEL, paddedK, paddedK4, q8Groups, quantizeRowsQ4, quantizeRowsQ8, unpackPanels, unpackQ4, unpackQ8, weightRows, WeightType,
  Q4_GROUP, Q8_DECODER_GROUP, type Q4Rows, type Q8Rows, type RowReader, type WeightArray,
} from '@attnflow/kernels';

/** A weight matrix in float32, or in the half precision its checkpoint stores (widened by the kernels). */
export type WeightDType = 'float32' | HalfDType;

/**
 * A weight quantized at load (the kernels' q8.ts and q4.ts have the layouts and the arithmetic): q8, 8-bit panels
 * with a scale per output column and group of `group` inputs (and the zero point's offset per column), multiplied
 * with quantized activations — or, in calls of at most `floatRows` rows, with float ones (linearQ8Float); q4,
 * 4-bit panels with a scale per group of 32 inputs, widened to float32 in the kernel.
 */
export type QuantizedWeight =
  | { format: 'q8'; values: Tensor<'int8'>; scales: Tensor<'float32'>; offsets: Tensor<'float32'>; group: number; floatRows: number }
  | { format: 'q4'; values: Tensor<'int8'>; scales: Tensor<'float32'> };
export type { Quantization };

export const isQuantized = (w: Linear['weight']): w is QuantizedWeight => 'format' in w;

/**
 * y = x Wᵀ + b. The weight is packed in panels (see LinearArgs) when `packed`, else PyTorch rows
 * (outFeatures, inFeatures): a tied LM head reads the embedding table as it is, without a second copy.
 */
export interface Linear {
  weight: Tensor<WeightDType> | QuantizedWeight;
  bias?: Tensor<'float32'>;
  inFeatures: number;
  outFeatures: number;
  packed?: boolean;
}

export interface LinearOptions {
  bias?: boolean;
  /** The checkpoint stores (in, out) — GPT-2's Conv1D — and the weight is transposed once at load. */
  transposed?: boolean;
  /** Stays in float when the model loads quantized (q8, q4): a table that an embedding reads too. */
  float?: boolean;
  /** An LM head: quantized as lmHeadQuantization says when the model loads quantized. */
  head?: boolean;
}

/**
 * How an LM head is quantized: 8 bits in groups of 32 in q8 and q4 alike. In q8 it multiplies 8-bit activations
 * as every other matrix does; in q4 it keeps float activations (linearQ8Float in every call, as a head's calls
 * have one row per sequence), as llama.cpp's 4-bit formats keep the output matrix in more bits: measured once on
 * mini-gpt2 (1,000 greedy tokens), a 4-bit head kept 47.2 % of fp32's tokens with a q4 body where this one keeps
 * 68.5 %. With a q8 body the weight-only head kept 93.9 % against 91.8 %, but took 17 of a token's 51 ms on the
 * Qwen2.5-0.5B shape (npm run bench -- --only llm --llm-profile), about twice the integer kernel's time.
 */
export function lmHeadQuantization(quantize: Quantization): Quantization {
  return { format: 'q8', group: Q8_DECODER_GROUP, floatRows: quantize.format === 'q4' ? Number.MAX_SAFE_INTEGER : 0 };
}

/**
 * Loads `<name>.weight` (and `.bias`) under the scope `w`, the weight packed in panels and kept in the precision
 * the checkpoint stores it (float32, bfloat16 or float16) — or quantized when the model loads as q8 or q4
 * (`w.quantize`); biases are small and widen to float32.
 */
export function loadLinear(w: Weights, inFeatures: number, outFeatures: number, options: LinearOptions = {}): Linear {
  const bias = options.bias ?? true;
  const quantize = options.float || !w.quantize ? undefined : options.head ? lmHeadQuantization(w.quantize) : w.quantize;
  const stored = w.getStored('weight', options.transposed ? [inFeatures, outFeatures] : [outFeatures, inFeatures]);
  // quantized straight from the checkpoint's rows, without float panels packed first; (in, out) weights are packed
  // (transposed) first and quantized from the panels, as their stored rows are columns
  const weight = quantize && !options.transposed
    ? quantized(weightRows(stored.data, weightTypeOf(stored), inFeatures, false), outFeatures, inFeatures, quantize, stored.arena)
    : pack(stored.dtype, stored.data, outFeatures, inFeatures, stored.arena, options.transposed);
  stored.dispose();
  const linear: Linear = { weight, bias: bias ? w.get('bias', [outFeatures]) : undefined, inFeatures, outFeatures, packed: true };
  if (quantize && options.transposed) quantizeLinear(linear, quantize);
  return linear;
}

/**
 * A linear from weight rows already in memory (outFeatures, inFeatures), packed: for checkpoints whose fused
 * weights must be split or reordered first (Phi-3's gate_up_proj, GPT-NeoX's per-head query_key_value).
 */
export function linearFromRows(dtype: WeightDType, rows: WeightArray, inFeatures: number, outFeatures: number, arena: Tensor['arena'], bias?: Tensor<'float32'>, quantize?: Quantization): Linear {
  const weight = quantize ? quantized(weightRows(rows, WeightType[dtype], inFeatures, false), outFeatures, inFeatures, quantize, arena) : pack(dtype, rows, outFeatures, inFeatures, arena);
  return { weight, bias, inFeatures, outFeatures, packed: true };
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
  if (isQuantized(layer.weight)) throw new TypeError(`${what} is quantized (${layer.weight.format}) but is read as floats`);
  return layer.weight;
}

/**
 * A linear's weight as output rows in its own form: float rows (N, K) in the stored precision, or quantized rows
 * (N × a padded K, a byte a weight) with their scales. Quantization is per output row, so rows can
 * be stacked and cut in any form (fuseLinears, splitLinear) with the same result as quantizing afterwards.
 */
type WeightRows = { dtype: WeightDType; rows: WeightArray } | { dtype: 'q8'; q: Q8Rows; floatRows: number } | { dtype: 'q4'; q: Q4Rows };

function rowsOf(layer: Linear): WeightRows {
  const w = layer.weight, N = layer.outFeatures, K = layer.inFeatures;
  if (!isQuantized(w)) return { dtype: w.dtype, rows: layer.packed ? unpackPanels<WeightArray>(w.data, N, K) : w.data };
  if (w.format === 'q8') return { dtype: 'q8', q: unpackQ8({ values: w.values.data, scales: w.scales.data, offsets: w.offsets.data, group: w.group }, N, K), floatRows: w.floatRows };
  return { dtype: 'q4', q: unpackQ4({ values: bytes(w.values.data), scales: w.scales.data }, N, K) };
}

const bytes = (a: Int8Array) => new Uint8Array(a.buffer, a.byteOffset, a.length);

/** Rows start..end of `from`'s arrays (each `per` elements a row) into `to` at row `at`. */
function copyRows<T extends WeightArray | Int8Array | Uint8Array>(to: T, from: T, per: number, start: number, end: number, at: number): void {
  to.set(from.subarray(start * per, end * per), at * per);
}

/** Rows start..end of each part, stacked in order. */
function stackRows(parts: { rows: WeightRows; start: number; end: number }[], K: number): WeightRows {
  const dtype = parts[0].rows.dtype;
  if (parts.some((p) => p.rows.dtype !== dtype)) throw new TypeError(`cannot stack linears stored as ${parts.map((p) => p.rows.dtype).join(', ')}`);
  const N = parts.reduce((n, p) => n + p.end - p.start, 0);
  const firstRows = parts[0].rows;
  const groups = firstRows.dtype === 'q8' ? q8Groups(K, firstRows.q.group) : 0;
  if (parts.some((p) => p.rows.dtype === 'q8' && p.rows.q.group !== (firstRows.dtype === 'q8' && firstRows.q.group))) throw new TypeError('cannot stack q8 linears of different groups');
  const out: WeightRows = firstRows.dtype === 'q8'
    ? { dtype: 'q8', q: { rows: new Int8Array(N * paddedK(K)), scales: new Float32Array(N * groups), group: firstRows.q.group }, floatRows: firstRows.floatRows }
    : firstRows.dtype === 'q4' ? { dtype: 'q4', q: { rows: new Uint8Array(N * paddedK4(K)), scales: new Float32Array(N * (paddedK4(K) / Q4_GROUP)) } }
    : { dtype: firstRows.dtype, rows: firstRows.dtype === 'float32' ? new Float32Array(N * K) : new Uint16Array(N * K) };
  let at = 0;
  for (const { rows, start, end } of parts) {
    if (out.dtype === 'q8' && rows.dtype === 'q8') {
      copyRows(out.q.rows, rows.q.rows, paddedK(K), start, end, at);
      copyRows(out.q.scales, rows.q.scales, groups, start, end, at);
    } else if (out.dtype === 'q4' && rows.dtype === 'q4') {
      copyRows(out.q.rows, rows.q.rows, paddedK4(K), start, end, at);
      copyRows(out.q.scales, rows.q.scales, paddedK4(K) / Q4_GROUP, start, end, at);
    } else if (out.dtype !== 'q8' && out.dtype !== 'q4' && rows.dtype !== 'q8' && rows.dtype !== 'q4') {
      copyRows<WeightArray>(out.rows, rows.rows, K, start, end, at);
    }
    at += end - start;
  }
  return out;
}

function quantizedTensors(r: Exclude<WeightRows, { rows: WeightArray }>, N: number, K: number, arena: Tensor['arena']): QuantizedWeight {
  const int8 = (data: Int8Array | Uint8Array) => {
    const t = Tensor.empty('int8', [data.length], arena);
    bytes(t.data).set(data);
    return t;
  };
  if (r.dtype === 'q4') {
    const q = packQ4(r.q, N, K);
    return { format: 'q4', values: int8(q.values), scales: Tensor.from(q.scales, [q.scales.length], arena) };
  }
  const q = packQ8(r.q, N, K);
  return { format: 'q8', values: int8(q.values), scales: Tensor.from(q.scales, [q.scales.length], arena), offsets: Tensor.from(q.offsets, [q.offsets.length], arena), group: q.group, floatRows: r.floatRows };
}

function linearOfRows(r: WeightRows, K: number, N: number, arena: Tensor['arena'], bias: Tensor<'float32'> | undefined): Linear {
  const weight = r.dtype === 'q8' || r.dtype === 'q4' ? quantizedTensors(r, N, K, arena) : pack(r.dtype, r.rows, N, K, arena);
  return { weight, bias, inFeatures: K, outFeatures: N, packed: true };
}

/**
 * Quantizes a packed linear in place (q8 or q4), freeing its float weight. Tied weights (rows shared with an
 * embedding table) are left as they are: the embedding reads the same table as floats (see tiedHead).
 */
export function quantizeLinear(layer: Linear, quantize: Quantization): void {
  if (!layer.packed || isQuantized(layer.weight)) return;
  const float = layer.weight;
  layer.weight = quantizedWeight(layer, quantize);
  float.dispose();
}

/** A linear's float weight (packed or rows) quantized into new tensors; the float one is left as it is. */
function quantizedWeight(layer: Linear, quantize: Quantization): QuantizedWeight {
  const float = floatWeight(layer, 'a weight to quantize');
  return quantized(weightRows(float.data, weightTypeOf(float), layer.inFeatures, layer.packed ?? false), layer.outFeatures, layer.inFeatures, quantize, float.arena);
}

function quantized(read: RowReader, N: number, K: number, quantize: Quantization, arena: Tensor['arena']): QuantizedWeight {
  const rows = quantize.format === 'q8' ? { dtype: 'q8' as const, q: quantizeRowsQ8(read, N, K, quantize.group), floatRows: quantize.floatRows ?? 0 } : { dtype: 'q4' as const, q: quantizeRowsQ4(read, N, K) };
  return quantizedTensors(rows, N, K, arena);
}

/**
 * An LM head tied to the embedding table `table`: the table itself, or, when the model loads quantized, a quantized
 * copy beside it (lmHeadQuantization). Generating reads the whole head for every token (vocabulary × hidden,
 * often the largest matrix of a small model), so its bytes are worth halving; the embedding keeps reading the
 * float table.
 */
export function tiedHead(table: Linear, quantize: Quantization | undefined): Linear {
  return quantize ? { ...table, weight: quantizedWeight(table, lmHeadQuantization(quantize)), packed: true } : table;
}

/** Frees a linear's tensors. */
export function disposeLinear(layer: Linear): void {
  const w = layer.weight;
  if (isQuantized(w)) for (const t of w.format === 'q8' ? [w.values, w.scales, w.offsets] : [w.values, w.scales]) t.dispose();
  else w.dispose();
  layer.bias?.dispose();
}

const arenaOf = (layer: Linear) => (isQuantized(layer.weight) ? layer.weight.values.arena : layer.weight.arena);

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
  const epilogue = { bias: layer.bias, residual: call.residual, gate: call.gate };
  if (isQuantized(w) && w.format === 'q8' && rows <= w.floatRows) {
    await engine.run('linearQ8Float', { out, x, w: w.values, scales: w.scales, ...epilogue }, { M, K, N, group: w.group, activation });
    return out;
  }
  if (isQuantized(w) && w.format === 'q8') {
    // the activations quantized per row, then the integer GEMM
    const xq = scope.empty('int8', [rows, paddedK(K)]);
    const params = scope.f32([rows, 2]);
    await engine.run('quantizeRows', { xq, params, x }, { rows, K });
    await engine.run('linearQ8', { out, xq, params, w: w.values, scales: w.scales, offsets: w.offsets, ...epilogue }, { M, K, N, group: w.group, activation });
    return out;
  }
  if (isQuantized(w)) {
    await engine.run('linearQ4', { out, x, w: w.values, scales: w.scales, ...epilogue }, { M, K, N, activation });
    return out;
  }
  await engine.run('linear', { out, x, w, ...epilogue }, {
    M, K, N, activation, packed: layer.packed, weightType: weightTypeOf(w),
  });
  return out;
}
