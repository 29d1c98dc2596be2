import type { Weights } from '@attnflow/checkpoint';
import type { Engine } from './engine.js';
import { Tensor, type Scope } from '@attnflow/tensor';

/** y = x Wᵀ + b, PyTorch layout: weight (outFeatures, inFeatures). */
export interface Linear {
  weight: Tensor<'float32'>;
  bias?: Tensor<'float32'>;
  inFeatures: number;
  outFeatures: number;
}

export interface Norm {
  weight: Tensor<'float32'>;
  bias?: Tensor<'float32'>;
  eps: number;
  rms: boolean;
}

export interface LinearOptions {
  bias?: boolean;
  /** The checkpoint stores (in, out) — GPT-2's Conv1D — and the weight is transposed once at load. */
  transposed?: boolean;
}

/** Loads `<name>.weight` (and `.bias`) under the scope `w`. */
export function loadLinear(w: Weights, inFeatures: number, outFeatures: number, options: LinearOptions = {}): Linear {
  const bias = options.bias ?? true;
  let weight = w.get('weight', options.transposed ? [inFeatures, outFeatures] : [outFeatures, inFeatures]);
  if (options.transposed) weight = transpose(weight);
  return { weight, bias: bias ? w.get('bias', [outFeatures]) : undefined, inFeatures, outFeatures };
}

/** (rows, cols) -> (cols, rows), into a new tensor; the input is freed. */
export function transpose(t: Tensor<'float32'>): Tensor<'float32'> {
  const [rows, cols] = t.shape;
  const out = Tensor.empty('float32', [cols, rows], t.arena);
  const src = t.data;
  const dst = out.data;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  t.dispose();
  return out;
}

/**
 * Stacks linears that read the same input into one (q|k|v → qkv), so one GEMM does the work of three.
 * The parts are freed: the weights still exist once.
 */
export function fuseLinears(parts: Linear[]): Linear {
  const inFeatures = parts[0].inFeatures;
  const outFeatures = parts.reduce((n, p) => n + p.outFeatures, 0);
  const arena = parts[0].weight.arena;
  const weight = Tensor.empty('float32', [outFeatures, inFeatures], arena);
  const hasBias = parts.some((p) => p.bias);
  const bias = hasBias ? Tensor.zeros('float32', [outFeatures], arena) : undefined;
  let row = 0;
  for (const p of parts) {
    weight.data.set(p.weight.data, row * inFeatures);
    if (p.bias) bias!.data.set(p.bias.data, row);
    row += p.outFeatures;
    p.weight.dispose();
    p.bias?.dispose();
  }
  return { weight, bias, inFeatures, outFeatures };
}

/** LayerNorm (`weight`/`bias`, or the old `gamma`/`beta`) or RMSNorm (`weight` only). */
export function loadNorm(w: Weights, size: number, eps: number, rms = false): Norm {
  return {
    weight: w.get('weight', [size], ['gamma']),
    bias: rms ? undefined : w.get('bias', [size], ['beta']),
    eps,
    rms,
  };
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
    M: rows, K: layer.inFeatures, N: layer.outFeatures, activation: call.activation ?? 0,
  });
  return out;
}

/** norm(x [+ residual]) over rows; in place when `out` is x. */
export async function runNorm(engine: Engine, scope: Scope, x: Tensor<'float32'>, layer: Norm, residual?: Tensor<'float32'>, out?: Tensor<'float32'>): Promise<Tensor<'float32'>> {
  const dim = layer.weight.size;
  const target = out ?? scope.f32(x.shape);
  await engine.run('norm', { out: target, x, residual, weight: layer.weight, bias: layer.bias }, { rows: x.size / dim, dim, eps: layer.eps, rms: layer.rms });
  return target;
}
