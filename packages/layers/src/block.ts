import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor } from '@attnflow/tensor';
import { crossAttention, selfAttention, type AttentionContext, type AttentionRecipe, type CrossAttentionWeights, type SelfAttentionWeights } from './attention.js';
import { feedForward, type FeedForwardWeights } from './feedforward.js';
import { runNorm, type Norm } from './norm.js';

/**
 * One Transformer block as data. Post-LN (the paper, BERT, BART, Marian): x = norm(x + sublayer(x)).
 * Pre-LN (GPT-2, T5): x = x + sublayer(norm(x)). A decoder block has cross-attention between the two.
 */
export interface BlockRecipe {
  attention: AttentionRecipe;
  placement: 'post' | 'pre';
  activation: number;
}

export interface BlockWeights {
  selfAttention: SelfAttentionWeights;
  selfAttentionNorm: Norm;
  crossAttention?: CrossAttentionWeights;
  crossAttentionNorm?: Norm;
  feedForward: FeedForwardWeights;
  feedForwardNorm: Norm;
}

/** What one block needs besides its input: the attention context of its self-attention, and for decoder blocks the encoder's output. */
export interface BlockInputs extends Omit<AttentionContext, 'residual'> {
  /** Encoder output keys/values and their mask, for decoder blocks. */
  cross?: { keyValues: Tensor<'float32'>; sourceLength: number; keyMask?: Tensor<'int32'>; positionBias?: Tensor<'float32'>; probs?: Tensor<'float32'> };
}

/** x (batch*length, hidden) -> (batch*length, hidden). */
export async function block(engine: Engine, scope: Scope, x: Tensor<'float32'>, w: BlockWeights, recipe: BlockRecipe, inputs: BlockInputs): Promise<Tensor<'float32'>> {
  const sub = async (input: Tensor<'float32'>, n: Norm, f: (y: Tensor<'float32'>, residual: Tensor<'float32'>) => Promise<Tensor<'float32'>>) => {
    if (recipe.placement === 'pre') return f(await runNorm(engine, scope, input, n), input);
    const summed = await f(input, input);
    return runNorm(engine, scope, summed, n, undefined, summed);
  };
  const { cross, ...ctx } = inputs;
  let h = await sub(x, w.selfAttentionNorm, (y, residual) => selfAttention(engine, scope, y, w.selfAttention, recipe.attention, { ...ctx, residual }));
  if (w.crossAttention && cross) {
    h = await sub(h, w.crossAttentionNorm!, (y, residual) =>
      crossAttention(engine, scope, y, cross.keyValues, cross.sourceLength, w.crossAttention!, recipe.attention, {
        batch: inputs.batch, length: inputs.length, keyMask: cross.keyMask, positionBias: cross.positionBias, probs: cross.probs, residual,
      }));
  }
  return sub(h, w.feedForwardNorm, (y, residual) => feedForward(engine, scope, y, w.feedForward, recipe.activation, residual));
}
