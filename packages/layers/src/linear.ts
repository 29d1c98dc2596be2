import type { Weights } from '@attnflow/checkpoint';
import type { Engine } from '@attnflow/kernels';
import { Tensor, type HalfDType, type Scope } from '@attnflow/tensor';
import { packPanelsInto, PANEL, unpackPanels, WeightType, type WeightArray } from '@attnflow/kernels';

/** A weight matrix in float32, or in the half precision its checkpoint stores (widened by the kernels). */
export type WeightDType = 'float32' | HalfDType;

/**
 * y = x Wᵀ + b. The weight is packed in panels (see LinearArgs) when `packed`, else PyTorch rows
 * (outFeatures, inFeatures): a tied LM head reads the embedding table as it is, without a second copy.
 */
export interface Linear {
  weight: Tensor<WeightDType>;
  bias?: Tensor<'float32'>;
  inFeatures: number;
  outFeatures: number;
  packed?: boolean;
}

export interface LinearOptions {
  bias?: boolean;
  /** The checkpoint stores (in, out) — GPT-2's Conv1D — and the weight is transposed once at load. */
  transposed?: boolean;
}

/**
 * Loads `<name>.weight` (and `.bias`) under the scope `w`, the weight packed in panels and kept in the precision
 * the checkpoint stores it (float32, bfloat16 or float16); biases are small and widen to float32.
 */
export function loadLinear(w: Weights, inFeatures: number, outFeatures: number, options: LinearOptions = {}): Linear {
  const bias = options.bias ?? true;
  const stored = w.getStored('weight', options.transposed ? [inFeatures, outFeatures] : [outFeatures, inFeatures]);
  const weight = pack(stored.dtype, stored.data, outFeatures, inFeatures, stored.arena, options.transposed);
  stored.dispose();
  return { weight, bias: bias ? w.get('bias', [outFeatures]) : undefined, inFeatures, outFeatures, packed: true };
}

/**
 * A linear from weight rows already in memory (outFeatures, inFeatures), packed: for checkpoints whose fused
 * weights must be split or reordered first (Phi-3's gate_up_proj, GPT-NeoX's per-head query_key_value).
 */
export function linearFromRows(dtype: WeightDType, rows: WeightArray, inFeatures: number, outFeatures: number, arena: Tensor['arena'], bias?: Tensor<'float32'>): Linear {
  return { weight: pack(dtype, rows, outFeatures, inFeatures, arena), bias, inFeatures, outFeatures, packed: true };
}

function pack(dtype: WeightDType, rows: WeightArray, N: number, K: number, arena: Tensor['arena'], inOut = false): Tensor<WeightDType> {
  const packed = Tensor.zeros(dtype, [Math.ceil(N / PANEL) * PANEL * K], arena);
  packPanelsInto<WeightArray>(packed.data, rows, N, K, inOut);
  return packed;
}

/** The kernels' code for a weight's storage. */
export const weightTypeOf = (t: Tensor<WeightDType>): WeightType => WeightType[t.dtype];

/**
 * Stacks linears that read the same input into one (q|k|v → qkv), so one GEMM does the work of three.
 * The parts are freed: the weights still exist once.
 */
export function fuseLinears(parts: Linear[]): Linear {
  const inFeatures = parts[0].inFeatures;
  const outFeatures = parts.reduce((n, p) => n + p.outFeatures, 0);
  const arena = parts[0].weight.arena;
  const dtype = parts[0].weight.dtype;
  if (parts.some((p) => p.weight.dtype !== dtype)) throw new TypeError(`cannot fuse linears stored as ${parts.map((p) => p.weight.dtype).join(', ')}`);
  const rows = dtype === 'float32' ? new Float32Array(outFeatures * inFeatures) : new Uint16Array(outFeatures * inFeatures);
  const hasBias = parts.some((p) => p.bias);
  const bias = hasBias ? Tensor.zeros('float32', [outFeatures], arena) : undefined;
  let row = 0;
  for (const p of parts) {
    const data: WeightArray = p.weight.data;
    rows.set(p.packed ? unpackPanels(data, p.outFeatures, inFeatures) : data, row * inFeatures);
    if (p.bias) bias!.data.set(p.bias.data, row);
    row += p.outFeatures;
    p.weight.dispose();
    p.bias?.dispose();
  }
  return { weight: pack(dtype, rows, outFeatures, inFeatures, arena), bias, inFeatures, outFeatures, packed: true };
}

/** The opposite of fuseLinears: one linear's output rows cut into consecutive parts (ModernBERT's Wi → input | gate). */
export function splitLinear(whole: Linear, sizes: number[]): Linear[] {
  const K = whole.inFeatures;
  const data: WeightArray = whole.weight.data;
  const rows = whole.packed ? unpackPanels(data, whole.outFeatures, K) : data;
  const arena = whole.weight.arena;
  let row = 0;
  const parts = sizes.map((n) => {
    const bias = whole.bias ? Tensor.from(whole.bias.data.slice(row, row + n), [n], arena) : undefined;
    const part = linearFromRows(whole.weight.dtype, rows.subarray(row * K, (row + n) * K), K, n, arena, bias);
    row += n;
    return part;
  });
  whole.weight.dispose();
  whole.bias?.dispose();
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
  await engine.run('linear', { out, x, w: layer.weight, bias: layer.bias, residual: call.residual, gate: call.gate }, {
    M: rows, K: layer.inFeatures, N: layer.outFeatures, activation: call.activation ?? 0, packed: layer.packed, weightType: weightTypeOf(layer.weight),
  });
  return out;
}
