import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor, TensorRef } from '@attnflow/tensor';
import { reserveCache, type KVCache } from './cache.js';
import { runLinear, type Linear } from './linear.js';
import type { Norm } from './norm.js';

/** How a model's attention computes scores: the variants are numbers, not subclasses. */
export interface AttentionRecipe {
  numHeads: number;
  headDim: number;
  /** Multiplies QKᵀ: 1/√headDim (the paper), 1 (T5), 1/√embed (the seed module). */
  scale: number;
  /** The value a masked score takes before the softmax. Default: the most negative float32, as Hugging Face. */
  maskFill?: number;
  /** Grouped-query attention: key/value heads (default numHeads), each shared by numHeads / kvHeads query heads. */
  kvHeads?: number;
  /** Sliding-window attention: a query sees itself and the window − 1 keys before it. */
  window?: number;
  /** Gemma 2: scores become softCap·tanh(score / softCap) before the mask. */
  softCap?: number;
}

/**
 * Q, K and V of one input, fused: qkv ((numHeads + 2·kvHeads)·headDim, hidden) as q|k|v blocks; out (hidden,
 * numHeads·headDim). Qwen3 normalises each query and key head (headDim,) before RoPE.
 */
export interface SelfAttentionWeights {
  qkv: Linear;
  out: Linear;
  queryNorm?: Norm;
  keyNorm?: Norm;
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
  /** Rotary position embedding of this call's rows: cos/sin (batch*length, rotaryDim/2), applied to q and k. */
  rotary?: { cos: Tensor<'float32'>; sin: Tensor<'float32'>; rotaryDim: number };
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
    kvHeads: recipe.kvHeads, window: recipe.window, softCap: recipe.softCap,
    maskStride: ctx.keyMask?.shape[1], maskOffset: ctx.cache?.start,
  });
}

/** Multi-head self-attention: x (batch*length, hidden) -> (batch*length, hidden). */
export async function selfAttention(engine: Engine, scope: Scope, x: Tensor<'float32'>, w: SelfAttentionWeights, recipe: AttentionRecipe, ctx: AttentionContext): Promise<Tensor<'float32'>> {
  const { numHeads, headDim } = recipe;
  const kvHeads = recipe.kvHeads ?? numHeads;
  const inner = numHeads * headDim, kvInner = kvHeads * headDim;
  const width = inner + 2 * kvInner;
  const qkv = await runLinear(engine, scope, x, w.qkv); // (batch*length, inner + 2*kvInner)
  const rows = ctx.batch * ctx.length;
  const headNorm = (n: Norm, col: number, heads: number) =>
    engine.run('norm', { out: columns(qkv, col), x: columns(qkv, col), weight: n.weight }, { rows, dim: headDim, eps: n.eps, rms: n.rms, groups: heads, rowStride: width });
  if (w.queryNorm) await headNorm(w.queryNorm, 0, numHeads);
  if (w.keyNorm) await headNorm(w.keyNorm, inner, kvHeads);
  // q and k heads are adjacent in a row, and rotate by the same angles: one call for both
  if (ctx.rotary) {
    await engine.run('rope', { x: qkv, cos: ctx.rotary.cos, sin: ctx.rotary.sin },
      { rows, heads: numHeads + kvHeads, headDim, rotaryDim: ctx.rotary.rotaryDim, rowStride: width });
  }
  const context = scope.f32([rows, inner]);
  const q = columns(qkv, 0);
  if (ctx.cache) {
    const cache = ctx.cache;
    appendToCache(cache, qkv, ctx.batch, ctx.length, inner, kvInner, recipe.window);
    await attend(engine, context, q, cache.key.ref, cache.value.ref,
      { qRowStride: width, kvRowStride: kvInner, kvBatchStride: cache.capacity * kvInner, kLen: cache.length }, recipe, ctx);
  } else {
    await attend(engine, context, q, columns(qkv, inner), columns(qkv, inner + kvInner),
      { qRowStride: width, kvRowStride: width, kvBatchStride: ctx.length * width, kLen: ctx.length }, recipe, ctx);
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

/**
 * Copies this step's keys and values (the k and v blocks of each qkv row) after the cached positions, making
 * room first (see reserveCache).
 */
function appendToCache(cache: KVCache, qkv: Tensor<'float32'>, batch: number, length: number, inner: number, kvInner: number, window?: number): void {
  reserveCache(cache, length, window);
  const src = qkv.data;
  const width = inner + 2 * kvInner;
  const k = cache.key.data;
  const v = cache.value.data;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) {
      const row = (b * length + i) * width;
      const dst = (b * cache.capacity + cache.length + i) * kvInner;
      k.set(src.subarray(row + inner, row + inner + kvInner), dst);
      v.set(src.subarray(row + inner + kvInner, row + width), dst);
    }
  }
  cache.length += length;
}
