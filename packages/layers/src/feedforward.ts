import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor } from '@attnflow/tensor';
import { runLinear, type Linear } from './linear.js';

/** Position-wise FFN: down(act(up x)), or the gated form down(act(gate x) * (up x)) (T5 v1.1, Llama). */
export interface FeedForwardWeights {
  up: Linear;
  /** Present for gated FFNs: its activation multiplies `up`'s output. */
  gate?: Linear;
  down: Linear;
}

/** x (rows, hidden) -> (rows, hidden), with the residual added in the last projection. */
export async function feedForward(engine: Engine, scope: Scope, x: Tensor<'float32'>, w: FeedForwardWeights, activation: number, residual?: Tensor<'float32'>): Promise<Tensor<'float32'>> {
  let hidden: Tensor<'float32'>;
  if (w.gate) {
    const up = await runLinear(engine, scope, x, w.up);
    hidden = await runLinear(engine, scope, x, w.gate, { activation, gate: up });
  } else {
    hidden = await runLinear(engine, scope, x, w.up, { activation });
  }
  return runLinear(engine, scope, hidden, w.down, { residual });
}
