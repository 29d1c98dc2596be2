import type { Weights } from '@attnflow/checkpoint';
import type { Engine } from '@attnflow/kernels';
import { Tensor, type Scope } from '@attnflow/tensor';
import { packPanelsInto, PANEL, unpackPanels } from '@attnflow/kernels';

/**
 * y = x Wᵀ + b. The weight is packed in panels (see LinearArgs) when `packed`, else PyTorch rows
 * (outFeatures, inFeatures): a tied LM head reads the embedding table as it is, without a second copy.
 */
export interface Linear {
  weight: Tensor<'float32'>;
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

/** Loads `<name>.weight` (and `.bias`) under the scope `w`, the weight packed in panels. */
export function loadLinear(w: Weights, inFeatures: number, outFeatures: number, options: LinearOptions = {}): Linear {
  const bias = options.bias ?? true;
  const stored = w.get('weight', options.transposed ? [inFeatures, outFeatures] : [outFeatures, inFeatures]);
  const weight = pack(stored.data, outFeatures, inFeatures, stored.arena, options.transposed);
  stored.dispose();
  return { weight, bias: bias ? w.get('bias', [outFeatures]) : undefined, inFeatures, outFeatures, packed: true };
}

/**
 * A linear from weight rows already in memory (outFeatures, inFeatures), packed: for checkpoints whose fused
 * weights must be split or reordered first (Phi-3's gate_up_proj, GPT-NeoX's per-head query_key_value).
 */
export function linearFromRows(rows: Float32Array, inFeatures: number, outFeatures: number, arena: Tensor['arena'], bias?: Tensor<'float32'>): Linear {
  return { weight: pack(rows, outFeatures, inFeatures, arena), bias, inFeatures, outFeatures, packed: true };
}

function pack(rows: Float32Array, N: number, K: number, arena: Tensor['arena'], inOut = false): Tensor<'float32'> {
  const packed = Tensor.zeros('float32', [Math.ceil(N / PANEL) * PANEL * K], arena);
  packPanelsInto(packed.data, rows, N, K, inOut);
  return packed;
}

/**
 * Stacks linears that read the same input into one (q|k|v → qkv), so one GEMM does the work of three.
 * The parts are freed: the weights still exist once.
 */
export function fuseLinears(parts: Linear[]): Linear {
  const inFeatures = parts[0].inFeatures;
  const outFeatures = parts.reduce((n, p) => n + p.outFeatures, 0);
  const arena = parts[0].weight.arena;
  const rows = new Float32Array(outFeatures * inFeatures);
  const hasBias = parts.some((p) => p.bias);
  const bias = hasBias ? Tensor.zeros('float32', [outFeatures], arena) : undefined;
  let row = 0;
  for (const p of parts) {
    rows.set(p.packed ? unpackPanels(p.weight.data, p.outFeatures, inFeatures) : p.weight.data, row * inFeatures);
    if (p.bias) bias!.data.set(p.bias.data, row);
    row += p.outFeatures;
    p.weight.dispose();
    p.bias?.dispose();
  }
  return { weight: pack(rows, outFeatures, inFeatures, arena), bias, inFeatures, outFeatures, packed: true };
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
    M: rows, K: layer.inFeatures, N: layer.outFeatures, activation: call.activation ?? 0, packed: layer.packed,
  });
  return out;
}
