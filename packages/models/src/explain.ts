/**
 * The walkthrough of self-attention for one word, computed by the model's own parts: the word's input X,
 * q = X·Wqᵀ + bq, every word's key and value, the scores q·k, their scaling, the softmax, and the output
 * Σ weight·value. The weights come from the same attention kernel the forward pass runs.
 */
import { attend, columns, runLinear } from '@attnflow/layers';
import { Scope } from '@attnflow/tensor';
import { findToken, type Tokenizer } from '@attnflow/tokenizer';
import type { EncoderModel } from './encoderModel.js';
import { ConfigError } from './config.js';

export interface Explanation {
  text: string;
  tokens: string[];
  tokenIndex: number;
  token: string;
  layer: number;
  head: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  hiddenSize: number;
  /** The word's hidden state entering the layer, (hidden,). */
  x: number[];
  /** Shapes of the full projections and of this head's slice of them ((out, in), PyTorch layout). */
  shapes: { projection: [number, number]; headSlice: [number, number] };
  q: number[];
  keys: number[][];
  values: number[][];
  /** q · k_j for every word j. */
  scores: number[];
  scale: number;
  scaled: number[];
  /** softmax(scaled): the attention weights (from the attention kernel). */
  weights: number[];
  /** Σ_j weights_j · v_j: this head's output for the word, (headDim,). */
  output: number[];
}

export class ExplainError extends ConfigError {
  override name = 'ExplainError';
}

export async function explainToken(model: EncoderModel, tokenizer: Tokenizer, text: string, word: string, layer = 0, head = 0): Promise<Explanation> {
  const r = model.recipe;
  if (!Number.isInteger(layer) || layer < 0 || layer >= r.numLayers) throw new ExplainError(`--layer ${layer} is out of range: valid layers are 0 to ${r.numLayers - 1}`);
  if (!Number.isInteger(head) || head < 0 || head >= r.numHeads) throw new ExplainError(`--head ${head} is out of range: valid heads are 0 to ${r.numHeads - 1}`);
  const enc = tokenizer.encodeBatch([text], { maxLength: r.maxPositions });
  const tokens = enc.encodings[0].tokens;
  const t = findToken(tokens, word);
  const out = await model.forward(enc, { outputHiddenStates: true });
  const L = enc.length;
  const H = r.hiddenSize;
  const D = r.headDim;
  const scope = new Scope(model.engine.arena);
  try {
    // X (L, hidden) entering the layer; BERT is post-LN, so attention reads it directly.
    const x = scope.f32([L, H]);
    x.data.set(out.hiddenStates![layer]);
    const blocks = model.weights.blocks;
    if (!blocks) throw new ExplainError(`${r.architecture}: explain reads the standard attention block, which this architecture does not use`);
    const blockWeights = blocks[layer].selfAttention;
    const qkv = await runLinear(model.engine, scope, x, blockWeights.qkv); // (L, 3H): q | k | v
    const context = scope.f32([L, H]);
    const probs = scope.f32([1, r.numHeads, L, L]);
    const keyMask = scope.i32(enc.attentionMask, [1, L]);
    await attend(model.engine, context, columns(qkv, 0), columns(qkv, H), columns(qkv, 2 * H), { qRowStride: 3 * H, kvRowStride: 3 * H, kvBatchStride: L * 3 * H, kLen: L }, r.block.attention, { batch: 1, length: L, keyMask, probs });
    const all = qkv.data;
    const slice = (row: number, part: number) => Array.from(all.subarray(row * 3 * H + part * H + head * D, row * 3 * H + part * H + (head + 1) * D));
    const q = slice(t, 0);
    const keys = tokens.map((_, j) => slice(j, 1));
    const values = tokens.map((_, j) => slice(j, 2));
    const scale = r.block.attention.scale;
    const scores = keys.map((k) => k.reduce((s, kd, d) => s + kd * q[d], 0));
    const weights = Array.from(probs.data.subarray((head * L + t) * L, (head * L + t) * L + tokens.length));
    const output = Array.from(context.data.subarray(t * H + head * D, t * H + (head + 1) * D));
    return {
      text, tokens, tokenIndex: t, token: tokens[t], layer, head, numLayers: r.numLayers, numHeads: r.numHeads, headDim: D, hiddenSize: H,
      x: Array.from(out.hiddenStates![layer].subarray(t * H, (t + 1) * H)),
      shapes: { projection: [H, H], headSlice: [D, H] },
      q, keys, values, scores, scale, scaled: scores.map((s) => s * scale), weights, output,
    };
  } finally {
    scope.dispose();
  }
}
