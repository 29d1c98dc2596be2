/**
 * ModernBERT: pre-LN layers without biases (norms without bias too), rotary positions with one θ for global and
 * another for local layers, local layers seeing keys within local_attention/2 of the query, a GeGLU feed-forward
 * (Wi → input | gate, Wo(act(input)·gate)), no norm before layer 0's attention, final_norm after the last layer.
 * Every task head starts with the prediction head (dense → classifier_activation → norm); sequence classification
 * reads h[CLS] or the mean of the real tokens (classifier_pooling).
 */
import type { Weights } from '@attnflow/checkpoint';
import { rotaryTable, type RotaryRecipe } from '@attnflow/embedding';
import { MOST_NEGATIVE_F32, type Activation } from '@attnflow/kernels';
import { activationFromName, attend, columns, feedForward, loadLinear, runLinear, runNorm, splitLinear, type AttentionRecipe, type FeedForwardWeights, type Linear, type Norm } from '@attnflow/layers';
import { Tensor, type SharedArena } from '@attnflow/tensor';
import { ConfigError, type ConfigReader } from './config.js';
import { encoderBasics, encoderRecipe, taskClasses, tiedDecoder, type EncoderArchitecture, type EncoderHead, type EncoderHeads, type EncoderLayers } from './encoder.js';

interface ModernBertLayer {
  /** Absent in layer 0 (an identity in transformers). */
  attnNorm?: Norm;
  qkv: Linear;
  out: Linear;
  mlpNorm: Norm;
  mlp: FeedForwardWeights;
  local: boolean;
}

/** A LayerNorm whose bias exists only when norm_bias says so. */
function loadModernNorm(w: Weights, size: number, eps: number, bias: boolean): Norm {
  return { weight: w.get('weight', [size]), bias: bias ? w.get('bias', [size]) : undefined, eps, rms: false };
}

/** (heads, L, L): 0 where |i − j| ≤ half, the most negative float elsewhere — a local layer's window. */
function windowBias(heads: number, length: number, half: number, arena: SharedArena): Tensor<'float32'> {
  const t = Tensor.empty('float32', [heads, length, length], arena);
  for (let i = 0; i < length; i++) for (let j = 0; j < length; j++) t.data[i * length + j] = Math.abs(i - j) <= half ? 0 : MOST_NEGATIVE_F32;
  for (let h = 1; h < heads; h++) t.data.copyWithin(h * length * length, 0, length * length);
  return t;
}

function modernBertLayers(layers: ModernBertLayer[], finalNorm: Norm, attention: AttentionRecipe, activation: Activation, rope: { global: number; local: number }, window: number, arena: SharedArena): EncoderLayers {
  const inner = attention.numHeads * attention.headDim;
  // default RoPE over the full head, one θ for global layers and another for local ones
  const recipe = (theta: number): RotaryRecipe => ({ theta, rotaryDim: attention.headDim, scaling: { kind: 'default' } });
  const globalRope = recipe(rope.global), localRope = recipe(rope.local);
  return async (engine, scope, x, inputs, options) => {
    const { batch, length } = inputs;
    const positions = Int32Array.from({ length: batch * length }, (_, r) => r % length);
    const tables = { global: rotaryTable(scope, globalRope, positions), local: rotaryTable(scope, localRope, positions) };
    const hiddenStates = options.outputHiddenStates ? [x] : undefined;
    const attentions: Tensor<'float32'>[] | undefined = options.outputAttentions ? [] : undefined;
    const bias = layers.some((l) => l.local) ? windowBias(attention.numHeads, length, window, arena) : undefined;
    try {
      let h = x;
      for (const layer of layers) {
        const normed = layer.attnNorm ? await runNorm(engine, scope, h, layer.attnNorm) : h;
        const qkv = await runLinear(engine, scope, normed, layer.qkv); // (batch·L, 3·inner): q | k | v, head-major
        const t = layer.local ? tables.local : tables.global;
        // q and k heads are adjacent in a row (q | k | v) and turn by the same angles: one call for both
        await engine.run('rope', { x: qkv, cos: t.cos, sin: t.sin },
          { rows: batch * length, heads: 2 * attention.numHeads, headDim: attention.headDim, rotaryDim: attention.headDim, rowStride: 3 * inner });
        const context = scope.f32([batch * length, inner]);
        const probs = attentions ? scope.f32([batch, attention.numHeads, length, length]) : undefined;
        await attend(engine, context, columns(qkv, 0), columns(qkv, inner), columns(qkv, 2 * inner),
          { qRowStride: 3 * inner, kvRowStride: 3 * inner, kvBatchStride: length * 3 * inner, kLen: length }, attention,
          { batch, length, keyMask: inputs.keyMask, positionBias: layer.local ? bias : undefined, probs });
        h = await runLinear(engine, scope, context, layer.out, { residual: h });
        h = await feedForward(engine, scope, await runNorm(engine, scope, h, layer.mlpNorm), layer.mlp, activation, h);
        if (probs) attentions!.push(probs);
        hiddenStates?.push(h);
      }
      h = await runNorm(engine, scope, h, finalNorm);
      if (hiddenStates) hiddenStates[hiddenStates.length - 1] = h;
      return { hidden: h, hiddenStates, attentions };
    } finally {
      bias?.dispose();
    }
  };
}

/** θ of global and local layers: rope_parameters (transformers 5), else global_rope_theta / local_rope_theta. */
function ropeThetas(cfg: ConfigReader): { global: number; local: number } {
  const params = cfg.raw.rope_parameters;
  const theta = (kind: string) => {
    const entry = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>)[kind] : undefined;
    const value = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).rope_theta : undefined;
    return typeof value === 'number' ? value : undefined;
  };
  return { global: theta('full_attention') ?? cfg.num('global_rope_theta', 160000), local: theta('sliding_attention') ?? cfg.num('local_rope_theta', 10000) };
}

/** classifier_pooling: the row the sequence head reads. */
function classifierPooling(cfg: ConfigReader): 'cls' | 'mean' {
  const pooling = cfg.str('classifier_pooling', 'cls');
  if (pooling !== 'cls' && pooling !== 'mean') throw new ConfigError(`${cfg.file}: classifier_pooling is "${pooling}"; expected "cls" or "mean"`);
  return pooling;
}

function load(cfg: ConfigReader, head: EncoderHead, root: Weights, arena: SharedArena) {
  const basics = encoderBasics(cfg, cfg.architecture ?? 'ModernBertModel', head);
  const H = basics.hiddenSize;
  const I = basics.intermediateSize;
  const eps = cfg.num('norm_eps', 1e-5);
  const normBias = cfg.bool('norm_bias', false);
  const attentionBias = cfg.bool('attention_bias', false);
  const mlpBias = cfg.bool('mlp_bias', false);
  const activation = activationFromName(cfg.str('hidden_activation', 'gelu'), 'hidden_activation');
  const every = cfg.int('global_attn_every_n_layers', 3);
  const rawTypes = cfg.raw.layer_types;
  const layerTypes = Array.isArray(rawTypes) ? rawTypes.map(String) : Array.from({ length: basics.numLayers }, (_, i) => (i % every !== 0 ? 'sliding_attention' : 'full_attention'));
  if (layerTypes.length !== basics.numLayers) throw new ConfigError(`${cfg.file}: layer_types has ${layerTypes.length} entries; num_hidden_layers is ${basics.numLayers}`);
  const window = Math.floor(cfg.int('local_attention', 128) / 2);
  const recipe = encoderRecipe(basics, { maxPositions: cfg.int('max_position_embeddings', 8192), positionIds: { kind: 'none' }, activation });
  const attention = recipe.block.attention;
  const m = root.scope('model');
  const word = m.scope('embeddings.tok_embeddings').get('weight', [basics.vocabSize, H]);
  const embeddings = { word, norm: loadModernNorm(m.scope('embeddings.norm'), H, eps, normBias) };
  const layers = layerTypes.map((type, i): ModernBertLayer => {
    const l = m.scope('layers', i);
    const [input, gate] = splitLinear(loadLinear(l.scope('mlp.Wi'), H, 2 * I, { bias: mlpBias }), [I, I]);
    return {
      attnNorm: i === 0 ? undefined : loadModernNorm(l.scope('attn_norm'), H, eps, normBias),
      qkv: loadLinear(l.scope('attn.Wqkv'), H, 3 * H, { bias: attentionBias }),
      out: loadLinear(l.scope('attn.Wo'), H, H, { bias: attentionBias }),
      mlpNorm: loadModernNorm(l.scope('mlp_norm'), H, eps, normBias),
      // GeGLU: the activation's input is the first half of Wi's outputs
      mlp: { gate: input, up: gate, down: loadLinear(l.scope('mlp.Wo'), I, H, { bias: mlpBias }) },
      local: type === 'sliding_attention',
    };
  });
  const finalNorm = loadModernNorm(m.scope('final_norm'), H, eps, normBias);
  const heads: EncoderHeads = {};
  if (head !== 'none') {
    // every task head starts with the same prediction head: dense → classifier_activation → norm
    const h = root.scope('head');
    const prediction = {
      dense: loadLinear(h.scope('dense'), H, H, { bias: cfg.bool('classifier_bias', false) }),
      activation: activationFromName(cfg.str('classifier_activation', 'gelu'), 'classifier_activation'),
      norm: loadModernNorm(h.scope('norm'), H, eps, normBias),
    };
    if (head === 'masked-lm') {
      const vocab = basics.vocabSize;
      const bias = cfg.bool('decoder_bias', true) ? root.scope('decoder').get('bias', [vocab]) : undefined;
      const tied = cfg.bool('tie_word_embeddings', true);
      heads.mlm = { ...prediction, decoder: tiedDecoder(tied ? word : root.scope('decoder').get('weight', [vocab, H]), bias) };
      if (tied) root.ignore(/^decoder\.weight$/);
    } else {
      // question answering puts its start|end logits on `classifier` too
      const out = loadLinear(root.scope('classifier'), H, head === 'question-answering' ? 2 : basics.numLabels);
      if (head === 'sequence-classification') heads.sequence = { ...prediction, out, pooling: classifierPooling(cfg) };
      else heads.tokens = { ...prediction, out };
    }
  }
  return { recipe, weights: { embeddings, layers: modernBertLayers(layers, finalNorm, attention, activation, ropeThetas(cfg), window, arena), heads } };
}

export const MODERNBERT: EncoderArchitecture = {
  modelTypes: ['modernbert'],
  classes: taskClasses('ModernBert'),
  load,
};
