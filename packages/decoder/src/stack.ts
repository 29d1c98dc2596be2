import type { Engine } from '@attnflow/kernels';
import { block, runNorm, type BlockRecipe, type BlockWeights, type KVCache, type Norm } from '@attnflow/layers';
import type { Scope, Tensor } from '@attnflow/tensor';

export interface DecoderStackInputs {
  batch: number;
  /** New positions per row in this call (the whole prompt first, then 1 per generated token). */
  length: number;
  /** (batch, positions cached + new): 1 = real token; left padding of GPT-2 batches is masked here. */
  keyMask?: Tensor<'int32'>;
  /** (numHeads, length, keyLength), T5's relative bias for these query positions. */
  positionBias?: Tensor<'float32'>;
  /** One cache per layer; each grows by `length`. */
  caches: KVCache[];
  /** Encoder-decoder models: per layer, the encoder output's keys/values (batch*srcLen, 2*inner). */
  cross?: { keyValues: Tensor<'float32'>[]; sourceLength: number; keyMask?: Tensor<'int32'>; positionBias?: Tensor<'float32'> };
  /** Per layer (batch, heads, length, keyLength) outputs for self- and cross-attention weights. */
  attentions?: Tensor<'float32'>[];
  crossAttentions?: Tensor<'float32'>[];
}

/** The decoder: N blocks of masked self-attention (+ encoder-decoder attention) + FFN, then the final norm. */
export async function decoderStack(
  engine: Engine, scope: Scope, x: Tensor<'float32'>, layers: BlockWeights[], recipe: BlockRecipe,
  inputs: DecoderStackInputs, finalNorm: Norm | undefined,
): Promise<Tensor<'float32'>> {
  let h = x;
  for (let i = 0; i < layers.length; i++) {
    const cross = inputs.cross;
    h = await block(engine, scope, h, layers[i], recipe, {
      batch: inputs.batch, length: inputs.length, keyMask: inputs.keyMask, positionBias: inputs.positionBias, causal: true,
      cache: inputs.caches[i], probs: inputs.attentions?.[i],
      cross: cross && { keyValues: cross.keyValues[i], sourceLength: cross.sourceLength, keyMask: cross.keyMask, positionBias: cross.positionBias, probs: inputs.crossAttentions?.[i] },
    });
  }
  return finalNorm ? runNorm(engine, scope, h, finalNorm) : h;
}
