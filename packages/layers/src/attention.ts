import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor, TensorRef } from '@attnflow/tensor';
import type { KVCache } from './cache.js';
import { runLinear, type Linear } from './linear.js';

/** How a model's attention computes scores: the variants are numbers, not subclasses. */
export interface AttentionRecipe {
  numHeads: number;
  headDim: number;
  /** Multiplies QKᵀ: 1/√headDim (the paper), 1 (T5), 1/√embed (the seed module). */
  scale: number;
  /** The value a masked score takes before the softmax. Default: the most negative float32, as Hugging Face. */
  maskFill?: number;
}

/** Q, K and V of one input, fused: qkv (inner*3, hidden); out (hidden, inner). */
export interface SelfAttentionWeights {
  qkv: Linear;
  out: Linear;
}

/** Encoder-decoder attention: queries from the decoder, keys and values (fused) from the encoder output. */
export interface CrossAttentionWeights {
  query: Linear;
  keyValue: Linear;
  out: Linear;
}

export interface AttentionContext {
  batch: number;
  /** Query positions per batch row in this call. */
  length: number;
  /** (batch, keyLength) 1 = real token, 0 = padding. */
  keyMask?: Tensor<'int32'>;
  /** (numHeads, length, keyLength), added to the scaled scores (T5); (batch, numHeads, length, keyLength) when it depends on each row's content (DeBERTa). */
  positionBias?: Tensor<'float32'>;
  causal?: boolean;
  /** Decoding: new keys/values are appended here and attention reads all cached positions. */
  cache?: KVCache;
  /** When given, (batch, numHeads, length, keyLength) receives the attention weights. */
  probs?: Tensor<'float32'>;
  /** Added to the output projection (the block's residual connection). */
  residual?: Tensor<'float32'>;
}

/** A view starting `col` floats into each row of t (rows stay strided by the full width). */
export function columns(t: Tensor, col: number): TensorRef {
  return { dtype: t.dtype, byteOffset: t.byteOffset + col * 4, length: t.size - col };
}

/** softmax(QKᵀ·scale + bias) V for every head, on the engine. */
export async function attend(
  engine: Engine, out: Tensor<'float32'>,
  q: TensorRef, k: TensorRef, v: TensorRef,
  shape: { qRowStride: number; kvRowStride: number; kvBatchStride: number; kLen: number },
  recipe: AttentionRecipe, ctx: AttentionContext,
): Promise<void> {
  const inner = recipe.numHeads * recipe.headDim;
  await engine.run('attention', { out, q, k, v, keyMask: ctx.keyMask, positionBias: ctx.positionBias, probs: ctx.probs }, {
    batch: ctx.batch, numHeads: recipe.numHeads, headDim: recipe.headDim, qLen: ctx.length, kLen: shape.kLen,
    qRowStride: shape.qRowStride, kvRowStride: shape.kvRowStride, outRowStride: inner,
    qBatchStride: ctx.length * shape.qRowStride, kvBatchStride: shape.kvBatchStride, outBatchStride: ctx.length * inner,
    scale: recipe.scale, causal: ctx.causal ?? false, maskFill: recipe.maskFill,
    biasBatchStride: ctx.positionBias?.shape.length === 4 ? recipe.numHeads * ctx.length * shape.kLen : 0,
  });
}

/** Multi-head self-attention: x (batch*length, hidden) -> (batch*length, hidden). */
export async function selfAttention(engine: Engine, scope: Scope, x: Tensor<'float32'>, w: SelfAttentionWeights, recipe: AttentionRecipe, ctx: AttentionContext): Promise<Tensor<'float32'>> {
  const inner = recipe.numHeads * recipe.headDim;
  const qkv = await runLinear(engine, scope, x, w.qkv); // (batch*length, 3*inner)
  const context = scope.f32([ctx.batch * ctx.length, inner]);
  const q = columns(qkv, 0);
  if (ctx.cache) {
    const cache = ctx.cache;
    appendToCache(cache, qkv, ctx.batch, ctx.length, inner);
    await attend(engine, context, q, cache.key.ref, cache.value.ref,
      { qRowStride: 3 * inner, kvRowStride: inner, kvBatchStride: cache.capacity * inner, kLen: cache.length }, recipe, ctx);
  } else {
    await attend(engine, context, q, columns(qkv, inner), columns(qkv, 2 * inner),
      { qRowStride: 3 * inner, kvRowStride: 3 * inner, kvBatchStride: ctx.length * 3 * inner, kLen: ctx.length }, recipe, ctx);
  }
  return runLinear(engine, scope, context, w.out, { residual: ctx.residual });
}

/** Keys and values of the encoder output for cross-attention, computed once per input: (batch*srcLen, 2*inner). */
export async function crossKeyValues(engine: Engine, scope: Scope, encoderOut: Tensor<'float32'>, w: CrossAttentionWeights): Promise<Tensor<'float32'>> {
  return runLinear(engine, scope, encoderOut, w.keyValue);
}

/** Decoder queries against the encoder's keys/values: x (batch*length, hidden) -> (batch*length, hidden). */
export async function crossAttention(
  engine: Engine, scope: Scope, x: Tensor<'float32'>, keyValues: Tensor<'float32'>, sourceLength: number,
  w: CrossAttentionWeights, recipe: AttentionRecipe, ctx: AttentionContext,
): Promise<Tensor<'float32'>> {
  const inner = recipe.numHeads * recipe.headDim;
  const q = await runLinear(engine, scope, x, w.query);
  const context = scope.f32([ctx.batch * ctx.length, inner]);
  await attend(engine, context, q.ref, columns(keyValues, 0), columns(keyValues, inner),
    { qRowStride: inner, kvRowStride: 2 * inner, kvBatchStride: sourceLength * 2 * inner, kLen: sourceLength }, recipe, { ...ctx, causal: false });
  return runLinear(engine, scope, context, w.out, { residual: ctx.residual });
}

/** Copies this step's keys and values (columns inner.. and 2*inner.. of qkv) after the cached positions. */
function appendToCache(cache: KVCache, qkv: Tensor<'float32'>, batch: number, length: number, inner: number): void {
  if (cache.length + length > cache.capacity) throw new RangeError(`key/value cache holds ${cache.capacity} positions; ${cache.length + length} needed`);
  const src = qkv.data;
  const k = cache.key.data;
  const v = cache.value.data;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) {
      const row = (b * length + i) * 3 * inner;
      const dst = (b * cache.capacity + cache.length + i) * inner;
      k.set(src.subarray(row + inner, row + 2 * inner), dst);
      v.set(src.subarray(row + 2 * inner, row + 3 * inner), dst);
    }
  }
  cache.length += length;
}
