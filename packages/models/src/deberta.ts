/**
 * DeBERTa-v2 / v3: BERT-like post-LN layers whose attention adds disentangled terms. A table of relative-position
 * embeddings R (2S, hidden) is projected by each layer's own query/key projections (Qr, Kr), and for query i, key
 * j, with δ = clamp(bucket(i − j) + S, 0, 2S − 1):
 *   score(i, j) = (Q_i·K_j + Q_i·Kr[δ] (c2p) + K_j·Qr[δ] (p2c)) / √(d · (1 + number of those terms))
 * The extra terms depend on the content of each row, so they go to the attention kernel as a per-batch bias.
 * Masking is 2-D (query and key real), so the bias also carries the mask.
 */
import type { Weights } from '@attnflow/checkpoint';
import type { StackOutputs } from '@attnflow/encoder';
import { MOST_NEGATIVE_F32, type Activation, type Engine } from '@attnflow/kernels';
import { activationFromName, attend, columns, feedForward, loadLinear, loadNorm, runLinear, runNorm, type AttentionRecipe, type BlockWeights, type Linear, type Norm } from '@attnflow/layers';
import type { Scope, Tensor } from '@attnflow/tensor';
import { ConfigError, type ConfigReader } from './config.js';
import { BERT_LAYER, encoderBasics, encoderRecipe, loadBlock, loadEmbeddings, loadTokenHead, type EncoderArchitecture, type EncoderHead, type EncoderHeads, type EncoderLayers } from './encoder.js';

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

function debertaLayers(layers: DebertaLayer[], relEmbeddings: Tensor<'float32'>, relNorm: Norm | undefined, attention: AttentionRecipe, activation: Activation, a: Disentangled): EncoderLayers {
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
      if (probs) attentions!.push(probs);
      hiddenStates?.push(h);
    }
    return { hidden: h, hiddenStates, attentions };
  };
}

const LAYER = { ...BERT_LAYER, q: 'attention.self.query_proj', k: 'attention.self.key_proj', v: 'attention.self.value_proj' };

function load(cfg: ConfigReader, head: EncoderHead, root: Weights) {
  const basics = encoderBasics(cfg, cfg.architecture ?? 'DebertaV2Model', head);
  const H = basics.hiddenSize;
  if (cfg.int('embedding_size', H) !== H) throw new ConfigError(`${cfg.file}: embedding_size ${cfg.int('embedding_size')} ≠ hidden_size ${H} (DeBERTa's embed_proj) is not supported`);
  if (cfg.int('conv_kernel_size', 0, 0) > 0) throw new ConfigError(`${cfg.file}: conv_kernel_size (DeBERTa-v2's convolution layer) is not supported`);
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
  const recipe = { ...encoderRecipe(basics, { maxPositions, positionIds: positionBiased ? { kind: 'range' } : { kind: 'none' }, activation }), block: { attention, placement: 'post' as const, activation } };
  const embeddings = loadEmbeddings(root.scope('deberta.embeddings'), { vocab: basics.vocabSize, width: H, positionRows: positionBiased ? maxPositions : 0, typeVocab: cfg.int('type_vocab_size', 0, 0), eps });
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
    const pooled = cfg.int('pooler_hidden_size', H);
    heads.sequence = {
      dense: loadLinear(root.scope('pooler.dense'), H, pooled),
      activation: activationFromName(cfg.str('pooler_hidden_act', 'gelu'), 'pooler_hidden_act'),
      out: loadLinear(root.scope('classifier'), pooled, basics.numLabels),
    };
  }
  return { recipe, weights: { embeddings, maskEmbeddings: true, layers: debertaLayers(layers, relEmbeddings, relNorm, attention, activation, a), heads } };
}

export const DEBERTA_V2: EncoderArchitecture = {
  modelTypes: ['deberta-v2'],
  classes: { DebertaV2Model: 'none', DebertaV2ForSequenceClassification: 'sequence-classification', DebertaV2ForTokenClassification: 'token-classification', DebertaV2ForQuestionAnswering: 'question-answering' },
  load,
};
