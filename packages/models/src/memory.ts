import type { Checkpoint } from '@attnflow/checkpoint';
import type { SharedArena } from '@attnflow/tensor';
import { paddedK, q8Groups, Q8_DECODER_GROUP } from '@attnflow/kernels';
import { ConfigError } from './config.js';
import type { ModelDType } from './dtype.js';

/** The cache length the estimate budgets for: the model's positions, up to a long chat's worth. */
const BUDGETED_POSITIONS = 4096;

const GIB = 1024 ** 3;
const fmt = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

/**
 * Refuses, before any tensor is read, a model whose weights (as stored: half precision stays 2 bytes) and key/value
 * cache (one sequence of min(positions, 4096) tokens) will not fit beside what the arena already holds: failing
 * half-way through a multi-gigabyte load helps nobody.
 */
export function checkMemory(
  ckpt: Checkpoint, r: { numLayers: number; kvHeads: number; headDim: number; maxPositions: number; vocabSize: number; hiddenSize: number; tiedEmbeddings: boolean; windows: (number | undefined)[] }, arena: SharedArena,
  dtype: ModelDType = 'fp32',
): void {
  const q8Row = (K: number) => paddedK(K) + 4 * q8Groups(K, Q8_DECODER_GROUP) + 4;
  const quantizedRow = (K: number) => (dtype === 'q8' ? q8Row(K) : 0.625 * K);
  // a tied LM head gets an 8-bit copy of the embedding table in q8 and q4 (layers' tiedHead)
  let weights = dtype !== 'fp32' && r.tiedEmbeddings ? r.vocabSize * q8Row(r.hiddenSize) : 0;
  for (const info of ckpt.tensors.values()) {
    const stored = info.dtype === 'BF16' || info.dtype === 'F16' ? 2 : 4;
    // half-precision matrices stay 2 bytes an element (loadLinear), the rest widens to float32; q8 keeps a linear's
    // matrix in 1 byte an element (plus a scale per 32 inputs and an offset per row), q4 in 0.625, but not the
    // embedding table (vocabulary rows), which the embedding reads as floats
    const quantized = dtype !== 'fp32' && info.shape.length === 2 && info.shape[0] !== r.vocabSize;
    weights += quantized ? info.shape[0] * quantizedRow(info.shape[1]) : stored * info.shape.reduce((a, d) => a * d, 1);
  }
  const positions = Math.min(r.maxPositions, BUDGETED_POSITIONS);
  const cache = r.windows.reduce<number>((sum, w) => sum + 2 * 4 * r.kvHeads * r.headDim * Math.min(positions, w ? 2 * w : positions), 0);
  const available = arena.maximumBytes - arena.allocatedBytes;
  if (weights + cache > available) {
    throw new ConfigError(
      `${ckpt.dir}: the model needs about ${fmt(weights + cache)} (weights ${fmt(weights)}, key/value cache ${fmt(cache)} for ${positions} positions) ` +
      `but WebAssembly memory has ${fmt(available)} left of its ${fmt(arena.maximumBytes)} limit; use a smaller model (fewer parameters)${dtype === 'q4' ? '' : ', or load it quantized (--dtype q4: about 0.6 bytes a weight; q8: about 1)'}`,
    );
  }
}
