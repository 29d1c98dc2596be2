import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor } from '@attnflow/tensor';
import { block, runNorm, type BlockInputs, type BlockRecipe, type BlockWeights, type Norm } from '@attnflow/layers';

export interface StackOptions {
  /** Keep the input of every block and the final output (Hugging Face's hidden_states). */
  outputHiddenStates?: boolean;
  /** Keep every block's attention weights, (batch, numHeads, length, length) each. */
  outputAttentions?: boolean;
}

export interface StackOutputs {
  hidden: Tensor<'float32'>;
  hiddenStates?: Tensor<'float32'>[];
  attentions?: Tensor<'float32'>[];
}

/** The encoder: N blocks over x (batch*length, hidden), then the final norm of pre-LN models. */
export async function encoderStack(
  engine: Engine, scope: Scope, x: Tensor<'float32'>, layers: BlockWeights[], recipe: BlockRecipe,
  inputs: Omit<BlockInputs, 'probs' | 'cache'>, finalNorm: Norm | undefined, options: StackOptions = {},
): Promise<StackOutputs> {
  const hiddenStates = options.outputHiddenStates ? [x] : undefined;
  const attentions: Tensor<'float32'>[] | undefined = options.outputAttentions ? [] : undefined;
  let h = x;
  for (const layer of layers) {
    const probs = attentions ? scope.f32([inputs.batch, recipe.attention.numHeads, inputs.length, inputs.length]) : undefined;
    h = await block(engine, scope, h, layer, recipe, { ...inputs, probs });
    if (probs) attentions!.push(probs);
    hiddenStates?.push(h);
  }
  if (finalNorm) {
    h = await runNorm(engine, scope, h, finalNorm);
    if (hiddenStates) hiddenStates[hiddenStates.length - 1] = h;
  }
  return { hidden: h, hiddenStates, attentions };
}
