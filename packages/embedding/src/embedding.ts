import { PANEL, type Engine } from '@attnflow/kernels';
import { runNorm, type Norm, type WeightDType } from '@attnflow/layers';
import { bfloat16ToFloat, F16_TO_F32, type Scope, type Tensor } from '@attnflow/tensor';
import type { PositionKind } from './positions.js';

export interface EmbeddingRecipe {
  vocabSize: number;
  hiddenSize: number;
  /** Token embeddings are multiplied by this (√d_model in the paper, Marian and some BART configs; else 1). */
  scale: number;
  position: PositionKind;
}

export interface EmbeddingWeights<D extends WeightDType = 'float32'> {
  /**
   * (vocabSize, hidden) rows; or, with `packed`, the panels of a linear layer (a table shared with a tied LM
   * head, read by both without a second copy), in float32 or the checkpoint's half precision.
   */
  word: Tensor<D>;
  packed?: boolean;
  /** (maxPositions, hidden): learned, or the sinusoidal table built at load. */
  position?: Tensor<'float32'>;
  /** (typeVocabSize, hidden), BERT's segment embeddings. */
  tokenType?: Tensor<'float32'>;
  /** LayerNorm over the sum (BERT, BART). */
  norm?: Norm;
}

export class EmbeddingError extends Error {
  override name = 'EmbeddingError';
}

/**
 * tokens (n,), positions (n,), types (n,) -> (n, hidden) = word[t]·scale + position[p + offset] + type[s],
 * then the embedding norm if the model has one.
 */
export async function embed(
  engine: Engine, scope: Scope, w: EmbeddingWeights<WeightDType>, recipe: EmbeddingRecipe,
  ids: Int32Array, positions?: Int32Array, tokenTypes?: Int32Array,
): Promise<Tensor<'float32'>> {
  const H = recipe.hiddenSize;
  const n = ids.length;
  const out = scope.f32([n, H]);
  const o = out.data;
  const word = tableReader(w.word, w.packed ? 'panels' : 'rows', H);
  const vocab = w.packed ? recipe.vocabSize : w.word.shape[0];
  const pos = w.position?.data;
  const maxPos = w.position?.shape[0] ?? 0;
  const offset = recipe.position.kind === 'none' ? 0 : recipe.position.offset;
  const types = w.tokenType?.data;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < vocab)) throw new EmbeddingError(`token id ${id} at position ${i} is outside the vocabulary (0..${vocab - 1})`);
    const row = o.subarray(i * H, (i + 1) * H);
    for (let c = 0; c < H; c++) row[c] = word(id, c) * recipe.scale;
    if (pos && positions) {
      const p = positions[i] + offset;
      if (!(p >= 0 && p < maxPos)) throw new EmbeddingError(`position ${positions[i]} is beyond the model's ${maxPos - offset} positions; truncate the input (maxLength)`);
      for (let c = 0; c < H; c++) row[c] += pos[p * H + c];
    }
    if (types) {
      const t = tokenTypes ? tokenTypes[i] : 0;
      for (let c = 0; c < H; c++) row[c] += types[t * H + c];
    }
  }
  return w.norm ? runNorm(engine, scope, out, w.norm, undefined, out) : out;
}

/** Element (id, c) of an embedding table as float32, whatever its layout (rows or panels) and precision. */
function tableReader(t: Tensor<WeightDType>, layout: 'rows' | 'panels', H: number): (id: number, c: number) => number {
  const at = layout === 'rows' ? (id: number, c: number) => id * H + c : (id: number, c: number) => (id - (id % PANEL)) * H + c * PANEL + (id % PANEL);
  const data = t.data;
  if (t.dtype === 'bfloat16') return (id, c) => bfloat16ToFloat(data[at(id, c)]);
  if (t.dtype === 'float16') return (id, c) => F16_TO_F32[data[at(id, c)]];
  return (id, c) => data[at(id, c)];
}
