import type { WeightsOptions } from '@attnflow/checkpoint';
import { Q8_DECODER_GROUP } from '@attnflow/kernels';

/**
 * How a model computes, chosen at load time (`dtype` in pipeline files, `--dtype`, the API's `dtype`):
 * - `fp32`: weights as the checkpoint stores them (float32, bfloat16 or float16; half precision is widened in the
 *   kernels), float32 arithmetic: the results Hugging Face computes;
 * - `q8`: the matrices of linear layers quantized to 8 bits as they load (a scale per output channel in encoders,
 *   per 32 inputs of an output channel in models that generate) and multiplied with
 *   activations quantized per row, in integer arithmetic (kernels' q8.ts). Embeddings, norms, attention and
 *   softmax stay float32. A quarter of float32's weight memory, at a small cost in accuracy (see the README);
 * - `q4`: the same matrices in 4 bits with a scale per 32 inputs, widened to float32 inside the kernel (weights
 *   only: activations stay float32). 0.625 bytes a weight, for decoding, where the bytes read per token set the speed.
 */
export const MODEL_DTYPES = ['fp32', 'q8', 'q4'] as const;
export type ModelDType = (typeof MODEL_DTYPES)[number];

export interface LoadOptions {
  dtype?: ModelDType;
}

/** The checkpoint reader's options for a model dtype, for an encoder or for a model that generates. */
export function weightsOptions(options: LoadOptions, kind: 'encoder' | 'generator'): WeightsOptions {
  if (options.dtype === 'q8') return { quantize: kind === 'generator' ? { format: 'q8', group: Q8_DECODER_GROUP } : { format: 'q8' } };
  if (options.dtype === 'q4') return { quantize: { format: 'q4' } };
  return {};
}
