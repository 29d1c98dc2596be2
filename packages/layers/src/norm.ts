import type { Weights } from '@attnflow/checkpoint';
import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor } from '@attnflow/tensor';

/** LayerNorm (mean and variance, weight and bias) or RMSNorm (root mean square, weight only) over the last dim. */
export interface Norm {
  weight: Tensor<'float32'>;
  bias?: Tensor<'float32'>;
  eps: number;
  rms: boolean;
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

/** norm(x [+ residual]) over rows; in place when `out` is x. */
export async function runNorm(engine: Engine, scope: Scope, x: Tensor<'float32'>, layer: Norm, residual?: Tensor<'float32'>, out?: Tensor<'float32'>): Promise<Tensor<'float32'>> {
  const dim = layer.weight.size;
  const target = out ?? scope.f32(x.shape);
  await engine.run('norm', { out: target, x, residual, weight: layer.weight, bias: layer.bias }, { rows: x.size / dim, dim, eps: layer.eps, rms: layer.rms });
  return target;
}
