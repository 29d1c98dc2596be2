import type { WeightsOptions } from '@attnflow/checkpoint';

/**
 * How a model computes, chosen at load time (`dtype` in pipeline files, `--dtype`, the API's `dtype`):
 * - `fp32`: weights as the checkpoint stores them (float32, bfloat16 or float16; half precision is widened in the
 *   kernels), float32 arithmetic: the results Hugging Face computes;
 * - `q8`: the matrices of linear layers quantized to 8 bits as they load (per output channel) and multiplied with
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

/** The checkpoint reader's options for a model dtype. */
export const weightsOptions = (options: LoadOptions): WeightsOptions => (options.dtype && options.dtype !== 'fp32' ? { quantize: options.dtype } : {});
