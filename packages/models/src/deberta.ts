/**
 * DeBERTa-v2 / v3: BERT-like post-LN layers whose attention adds disentangled terms. A table of relative-position
 * embeddings R (2S, hidden) is projected by each layer's own query/key projections (Qr, Kr), and for query i, key
 * j, with δ = clamp(bucket(i − j) + S, 0, 2S − 1):
 *   score(i, j) = (Q_i·K_j + Q_i·Kr[δ] (c2p) + K_j·Qr[δ] (p2c)) / √(d · (1 + number of those terms))
 * The extra terms depend on the content of each row, so they go to the attention kernel as a per-batch bias.
 * Masking is 2-D (query and key real), so the bias also carries the mask. Larger v2 models add embed_proj
 * (embedding_size → hidden_size, before the embeddings' LayerNorm) and a convolution beside layer 0 (ConvLayer).
 */
import type { Weights } from '@attnflow/checkpoint';
import type { StackOutputs } from '@attnflow/encoder';
import { MOST_NEGATIVE_F32, type Activation, type Engine } from '@attnflow/kernels';
import { activationFromName, attend, columns, feedForward, loadConv1d, loadLinear, loadNorm, runConv1d, runLinear, runNorm, type AttentionRecipe, type BlockWeights, type Conv1d, type Linear, type Norm } from '@attnflow/layers';
import type { Scope, Tensor } from '@attnflow/tensor';
import { ConfigError, type ConfigReader } from './config.js';
import {
  BERT_LAYER, encoderBasics, encoderRecipe, loadBlock, loadEmbeddings, loadTokenHead, taskClasses, tiedDecoder,
  type EncoderArchitecture, type EncoderHead, type EncoderHeads, type EncoderLayers, type LayerInputs, type MaskedLmHead,
} from './encoder.js';

interface Disentangled {
  /** S: R has 2S rows. */
  span: number;
  /** position_buckets (0: no log buckets) and the distance they reach (max_relative_positions). */
  buckets: number;
  maxPosition: number;
  c2p: boolean;
  p2c: boolean;
}

/**
 * transformers' make_log_bucket_position for one relative position r = i − j: exact up to mid = buckets/2, then
 * logarithmic up to maxPosition, in float32 as PyTorch computes it so that boundaries fall alike.
 */
export function debertaBucket(r: number, buckets: number, maxPosition: number): number {
  const mid = Math.floor(buckets / 2);
  const abs = r < mid && r > -mid ? mid - 1 : Math.abs(r);
  if (abs <= mid) return r;
  const f = Math.fround;
  const log = f(f(f(Math.log(f(abs / mid))) / f(Math.log(f((maxPosition - 1) / mid)))) * (mid - 1));
  return Math.sign(r) * (Math.ceil(log) + mid);
}

/** (length, length) row indices into R: δ(i, j) = clamp(bucket(i − j) + S, 0, 2S − 1). */
function relativeIndex(length: number, a: Disentangled): Int32Array {
  const out = new Int32Array(length * length);
  for (let i = 0; i < length; i++) {
    for (let j = 0; j < length; j++) {
      const rel = a.buckets > 0 ? debertaBucket(i - j, a.buckets, a.maxPosition) : i - j;
      out[i * length + j] = Math.min(Math.max(rel + a.span, 0), 2 * a.span - 1);
    }
  }
  return out;
}

interface DebertaLayer extends BlockWeights {
  /** q|k projections of R when share_att_key is false (pos_query_proj | pos_key_proj). */
  positionProjection?: { query?: Linear; key?: Linear };
}

/**
 * bias (batch, heads, L, L) = (c2p + p2c)·scale where both rows are real, else the most negative float (the
 * kernel then gives a padded query uniform weights, as transformers' masked_fill does).
 * qkv (batch·L, 3·inner); qr, kr (2S, ·) with the heads' columns at qrCol/krCol and row stride qrStride/krStride.
 */
function disentangledBias(
  out: Float32Array, qkv: Float32Array, pos: { qr: Float32Array; qrCol: number; qrStride: number; kr: Float32Array; krCol: number; krStride: number },
  index: Int32Array, mask: Int32Array, dims: { batch: number; length: number; heads: number; headDim: number; scale: number }, a: Disentangled,
): void {
  const { batch, length: L, heads, headDim: d, scale } = dims;
  const inner = heads * d;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < L; i++) {
        const row = ((b * heads + h) * L + i) * L;
        const qi = (b * L + i) * 3 * inner + h * d;
        for (let j = 0; j < L; j++) {
          if (!mask[b * L + i] || !mask[b * L + j]) {
            out[row + j] = MOST_NEGATIVE_F32;
            continue;
          }
          const r = index[i * L + j];
          let s = 0;
          if (a.c2p) {
            const kr = r * pos.krStride + pos.krCol + h * d;
            for (let t = 0; t < d; t++) s += qkv[qi + t] * pos.kr[kr + t];
          }
          if (a.p2c) {
            const kj = (b * L + j) * 3 * inner + inner + h * d;
            const qr = r * pos.qrStride + pos.qrCol + h * d;
            for (let t = 0; t < d; t++) s += qkv[kj + t] * pos.qr[qr + t];
          }
          out[row + j] = s * scale;
        }
      }
    }
  }
}

/**
 * DeBERTa-v2's ConvLayer, run once after layer 0: LayerNorm(layer 0's output + act(conv(the embeddings))), then
 * multiplied by the mask. transformers also zeroes the convolution at padded positions first; rows are normed one
 * by one and padded rows end as zeros, so that changes nothing.
 */
interface ConvLayer {
  conv: Conv1d;
  activation: Activation;
  norm: Norm;
}

async function runConvLayer(engine: Engine, scope: Scope, embeddings: Tensor<'float32'>, residual: Tensor<'float32'>, layer: ConvLayer, inputs: LayerInputs): Promise<Tensor<'float32'>> {
  const H = layer.conv.channels;
  const out = await runConv1d(engine, scope, embeddings, layer.conv, inputs.batch, inputs.length, { activation: layer.activation, residual });
  await runNorm(engine, scope, out, layer.norm, undefined, out);
  for (let t = 0; t < inputs.batch * inputs.length; t++) if (!inputs.mask[t]) out.data.fill(0, t * H, (t + 1) * H);
  return out;
}

function debertaLayers(layers: DebertaLayer[], relEmbeddings: Tensor<'float32'>, relNorm: Norm | undefined, attention: AttentionRecipe, activation: Activation, a: Disentangled, conv?: ConvLayer): EncoderLayers {
  const inner = attention.numHeads * attention.headDim;
  return async (engine: Engine, scope: Scope, x: Tensor<'float32'>, inputs, options): Promise<StackOutputs> => {
    const { batch, length } = inputs;
    const R = relNorm ? await runNorm(engine, scope, relEmbeddings, relNorm) : relEmbeddings;
    const index = relativeIndex(length, a);
    const hiddenStates = options.outputHiddenStates ? [x] : undefined;
    const attentions: Tensor<'float32'>[] | undefined = options.outputAttentions ? [] : undefined;
    let h = x;
    for (const layer of layers) {
      const qkv = await runLinear(engine, scope, h, layer.selfAttention.qkv); // (batch·L, 3·inner)
      // Qr | Kr (2S, ·): with share_att_key the layer's own q/k projections (one GEMM over the fused qkv)
      let pos;
      if (layer.positionProjection) {
        const qr = layer.positionProjection.query && await runLinear(engine, scope, R, layer.positionProjection.query);
        const kr = layer.positionProjection.key && await runLinear(engine, scope, R, layer.positionProjection.key);
        const none = new Float32Array(0);
        pos = { qr: qr?.data ?? none, qrCol: 0, qrStride: inner, kr: kr?.data ?? none, krCol: 0, krStride: inner };
      } else {
        const rqkv = (await runLinear(engine, scope, R, layer.selfAttention.qkv)).data;
        pos = { qr: rqkv, qrCol: 0, qrStride: 3 * inner, kr: rqkv, krCol: inner, krStride: 3 * inner };
      }
      const bias = scope.f32([batch, attention.numHeads, length, length]);
      disentangledBias(bias.data, qkv.data, pos, index, inputs.mask, { batch, length, heads: attention.numHeads, headDim: attention.headDim, scale: attention.scale }, a);
      const context = scope.f32([batch * length, inner]);
      const probs = attentions ? scope.f32([batch, attention.numHeads, length, length]) : undefined;
      await attend(engine, context, columns(qkv, 0), columns(qkv, inner), columns(qkv, 2 * inner),
        { qRowStride: 3 * inner, kvRowStride: 3 * inner, kvBatchStride: length * 3 * inner, kLen: length }, attention, { batch, length, positionBias: bias, probs });
      const attended = await runLinear(engine, scope, context, layer.selfAttention.out, { residual: h });
      await runNorm(engine, scope, attended, layer.selfAttentionNorm, undefined, attended);
      const ffn = await feedForward(engine, scope, attended, layer.feedForward, activation, attended);
      h = await runNorm(engine, scope, ffn, layer.feedForwardNorm, undefined, ffn);
      if (conv && layer === layers[0]) h = await runConvLayer(engine, scope, x, h, conv, inputs);
      if (probs) attentions!.push(probs);
      hiddenStates?.push(h);
    }
    return { hidden: h, hiddenStates, attentions };
  };
}

/** encoder.conv when conv_kernel_size > 0: a convolution of conv_kernel_size over conv_groups groups, conv_act. */
function loadConvLayer(cfg: ConfigReader, enc: Weights, H: number, eps: number): ConvLayer | undefined {
  const kernel = cfg.int('conv_kernel_size', 0, 0);
  if (kernel === 0) return undefined;
  if (kernel % 2 === 0) throw new ConfigError(`${cfg.file}: conv_kernel_size is ${kernel}; expected an odd size (padding (k − 1)/2 keeps the length only then)`);
  const groups = cfg.int('conv_groups', 1);
  if (H % groups !== 0) throw new ConfigError(`${cfg.file}: conv_groups ${groups} does not divide hidden_size ${H}`);
  const c = enc.scope('conv');
  return { conv: loadConv1d(c.scope('conv'), H, kernel, groups), activation: activationFromName(cfg.str('conv_act', 'tanh'), 'conv_act'), norm: loadNorm(c.scope('LayerNorm'), H, eps) };
}

/**
 * DebertaV2ForMaskedLM's head, in either of its layouts: the legacy `cls.predictions` (transform.dense hidden →
 * embedding_size → hidden_act → LayerNorm → decoder, tied to the word embeddings and cls.predictions.bias unless
 * tie_word_embeddings is false) or `lm_predictions.lm_head` (dense → hidden_act → LayerNorm → the word
 * embeddings + bias), as DeBERTa-v3 checkpoints store it. The checkpoint's keys choose: transformers picks by
 * config.legacy (default true) and starts the other layout from random weights, which no checkpoint wants.
 */
function loadMaskedLmHead(cfg: ConfigReader, root: Weights, word: Tensor<'float32'>, sizes: { hidden: number; embedding: number; vocab: number; eps: number; activation: Activation }): MaskedLmHead {
  const { hidden: H, embedding: E, vocab, eps, activation } = sizes;
  root.ignore(/^mask_predictions\./); // the replaced-token detection head of DeBERTa-v3 pre-training
  const legacy = root.has('cls.predictions.bias') || (!root.has('lm_predictions.lm_head.bias') && cfg.bool('legacy', true));
  if (!legacy) {
    if (E !== H) throw new ConfigError(`${cfg.file}: embedding_size ${E} ≠ hidden_size ${H}; lm_predictions.lm_head multiplies hidden_size features by the word embeddings`);
    const p = root.scope('lm_predictions.lm_head');
    return { dense: loadLinear(p.scope('dense'), H, H), activation, norm: loadNorm(p.scope('LayerNorm'), H, eps), decoder: tiedDecoder(word, p.get('bias', [vocab])) };
  }
  const p = root.scope('cls.predictions');
  const tied = cfg.bool('tie_word_embeddings', true);
  // tying also makes the decoder's bias cls.predictions.bias; untied, the decoder keeps a bias of its own
  const bias = tied ? p.get('bias', [vocab]) : p.scope('decoder').get('bias', [vocab]);
  root.ignore(tied ? /^cls\.predictions\.decoder\.(weight|bias)$/ : /^cls\.predictions\.bias$/);
  return {
    dense: loadLinear(p.scope('transform.dense'), H, E),
    activation,
    norm: loadNorm(p.scope('transform.LayerNorm'), E, eps),
    decoder: tiedDecoder(tied ? word : p.scope('decoder').get('weight', [vocab, E]), bias),
  };
}

const LAYER = { ...BERT_LAYER, q: 'attention.self.query_proj', k: 'attention.self.key_proj', v: 'attention.self.value_proj' };

function load(cfg: ConfigReader, head: EncoderHead, root: Weights) {
  const basics = encoderBasics(cfg, cfg.architecture ?? 'DebertaV2Model', head);
  const H = basics.hiddenSize;
  const E = cfg.int('embedding_size', H);
  if (!cfg.bool('relative_attention', false)) throw new ConfigError(`${cfg.file}: relative_attention false (DeBERTa without disentangled attention) is not supported`);
  const eps = cfg.num('layer_norm_eps', 1e-7);
  const maxPositions = cfg.int('max_position_embeddings', 512);
  const maxRelative = cfg.int('max_relative_positions', -1, -1);
  const maxPosition = maxRelative >= 1 ? maxRelative : maxPositions;
  const buckets = Math.max(cfg.int('position_buckets', 0, -1), 0);
  const posAttType = cfg.raw.pos_att_type;
  const types = Array.isArray(posAttType) ? posAttType : typeof posAttType === 'string' ? posAttType.toLowerCase().split('|').map((t) => t.trim()) : [];
  const a: Disentangled = { span: buckets > 0 ? buckets : maxPosition, buckets, maxPosition, c2p: types.includes('c2p'), p2c: types.includes('p2c') };
  const activation = activationFromName(cfg.str('hidden_act', 'gelu'));
  const positionBiased = cfg.bool('position_biased_input', true);
  const attention: AttentionRecipe = { numHeads: basics.numHeads, headDim: basics.headDim, scale: 1 / Math.sqrt(basics.headDim * (1 + Number(a.c2p) + Number(a.p2c))) };
  const recipe = { ...encoderRecipe(basics, { embeddingSize: E, maxPositions, positionIds: positionBiased ? { kind: 'range' } : { kind: 'none' }, activation }), block: { attention, placement: 'post' as const, activation } };
  const e = root.scope('deberta.embeddings');
  // embed_proj (no bias) comes before the LayerNorm, which is then in hidden size
  const embeddings = loadEmbeddings(e, { vocab: basics.vocabSize, width: E, positionRows: positionBiased ? maxPositions : 0, typeVocab: cfg.int('type_vocab_size', 0, 0), eps, norm: E === H });
  const projection = E !== H ? loadLinear(e.scope('embed_proj'), E, H, { bias: false }) : undefined;
  const projectionNorm = E !== H ? loadNorm(e.scope('LayerNorm'), H, eps) : undefined;
  const base = root.scope('deberta');
  const shareAttKey = cfg.bool('share_att_key', false);
  const layers = Array.from({ length: basics.numLayers }, (_, i): DebertaLayer => {
    const l = base.scope('encoder.layer', i);
    const block: DebertaLayer = loadBlock(l, LAYER, H, basics.intermediateSize, eps);
    if (!shareAttKey) {
      const s = l.scope('attention.self');
      block.positionProjection = { query: a.p2c ? loadLinear(s.scope('pos_query_proj'), H, H) : undefined, key: a.c2p ? loadLinear(s.scope('pos_key_proj'), H, H) : undefined };
    }
    return block;
  });
  const enc = base.scope('encoder');
  const relEmbeddings = enc.scope('rel_embeddings').get('weight', [2 * a.span, H]);
  const normRel = cfg.str('norm_rel_ebd', 'none').toLowerCase().split('|').map((t) => t.trim());
  const relNorm = normRel.includes('layer_norm') ? loadNorm(enc.scope('LayerNorm'), H, eps) : undefined;
  const heads: EncoderHeads = { tokens: loadTokenHead(root, head, H, basics.numLabels) };
  if (head === 'sequence-classification') {
    // ContextPooler: dense (pooler_hidden_size²) on h[CLS]; the classifier reads hidden_size, so the two must agree
    const pooled = cfg.int('pooler_hidden_size', H);
    if (pooled !== H) throw new ConfigError(`${cfg.file}: pooler_hidden_size ${pooled} ≠ hidden_size ${H}; DeBERTa's ContextPooler reads and feeds the classifier hidden_size features`);
    heads.sequence = {
      dense: loadLinear(root.scope('pooler.dense'), H, H),
      activation: activationFromName(cfg.str('pooler_hidden_act', 'gelu'), 'pooler_hidden_act'),
      out: loadLinear(root.scope('classifier'), H, basics.numLabels),
    };
  } else if (head === 'masked-lm') heads.mlm = loadMaskedLmHead(cfg, root, embeddings.word, { hidden: H, embedding: E, vocab: basics.vocabSize, eps, activation });
  return { recipe, weights: { embeddings, projection, projectionNorm, maskEmbeddings: true, layers: debertaLayers(layers, relEmbeddings, relNorm, attention, activation, a, loadConvLayer(cfg, enc, H, eps)), heads } };
}

export const DEBERTA_V2: EncoderArchitecture = {
  modelTypes: ['deberta-v2'],
  classes: taskClasses('DebertaV2'),
  load,
};
