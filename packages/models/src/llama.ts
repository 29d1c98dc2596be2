/**
 * Today's decoder-only language models as one recipe over shared parts: Llama, Mistral, Qwen2, Qwen3, Phi-3,
 * Gemma 2 and GPT-NeoX differ in data — norm kind, gated or plain MLP, how q/k/v are stored, biases, q/k norm,
 * soft-caps, which layers slide, where the residuals join — not in code. Every one is
 *   h = embed(ids)·scale;  per layer: attention (RoPE, GQA, window) and MLP joined to h;  logits = head(norm(h))
 * with the variant read from config.json once (llamaRecipe) and the weights named as in each checkpoint.
 */
import { Checkpoint, Weights } from '@attnflow/checkpoint';
import { weightsOptions, type LoadOptions } from './dtype.js';
import { loadOwned } from './owned.js';
import type { GenerationConfig } from '@attnflow/decoder';
import { embed, rotaryTable, type EmbeddingRecipe, type RotaryRecipe } from '@attnflow/embedding';
import { sharedEngine, type Activation, type Engine, type WeightArray } from '@attnflow/kernels';
import {
  activationFromName, createCache, feedForward, floatWeight, keysAfterAppend, fuseLinears, linearFromRows, loadLinear, loadNorm, runLinear, runNorm, selfAttention, tiedHead,
  type AttentionRecipe, type FeedForwardWeights, type KVCache, type Linear, type Norm, type SelfAttentionWeights,
} from '@attnflow/layers';
import { Scope, type Tensor } from '@attnflow/tensor';
import { CachedSession, CausalModel, lastPositions } from './causal.js';
import { ConfigError, ConfigReader } from './config.js';
import { readGenerationConfig } from './generation.js';
import { checkMemory } from './memory.js';
import { rotaryFromConfig } from './rope.js';

/** Where a block's two branches join h: in turn (Llama), both from the same h (GPT-NeoX), or each normed first (Gemma 2). */
export type Residual = 'sequential' | 'parallel' | 'sandwich';

/** Module names under which each family stores its tensors (the checkpoint's key path, not ours). */
interface Names {
  root: string; embed: string; finalNorm: string; lmHead: string; attention: string; out: string; mlp: string; down: string;
  attentionNorm: string; feedForwardNorm: string; attentionOutNorm?: string; feedForwardOutNorm?: string;
  /** q_proj/k_proj/v_proj, or one fused tensor: q|k|v blocks (Phi-3) or per-head [q_h|k_h|v_h] (GPT-NeoX). */
  qkv: { separate: [string, string, string] } | { blocks: string } | { perHead: string };
  /** gate_proj/up_proj, gate|up fused (Phi-3), or a plain up projection (GPT-NeoX). */
  up: { gate: string; up: string } | { gateUp: string } | { plain: string };
  qkNorm?: [string, string];
}

const LLAMA_NAMES: Names = {
  root: 'model', embed: 'embed_tokens', finalNorm: 'norm', lmHead: 'lm_head', attention: 'self_attn', out: 'o_proj', mlp: 'mlp', down: 'down_proj',
  attentionNorm: 'input_layernorm', feedForwardNorm: 'post_attention_layernorm',
  qkv: { separate: ['q_proj', 'k_proj', 'v_proj'] }, up: { gate: 'gate_proj', up: 'up_proj' },
};

/** What an architecture fixes whatever its config says; the config supplies sizes, eps, RoPE, windows, flags. */
interface Family {
  names: Names;
  norm: 'rms' | 'rmsUnitOffset' | 'layer';
  residual: Residual;
  /** Biases of q/k/v, of the output projection, of the MLP. */
  bias(cfg: ConfigReader): { qkv: boolean; out: boolean; mlp: boolean };
  /** The window of layer i, or undefined for full attention. */
  window(cfg: ConfigReader, layer: number): number | undefined;
  activationField: string;
  /** Gemma 2: √hidden embedding scale, query_pre_attn_scalar, attention and final soft-caps. */
  gemma?: boolean;
  defaultPartialRotary?: number;
}

const flag = (cfg: ConfigReader, name: string) => cfg.bool(name, false);
const noBias = () => ({ qkv: false, out: false, mlp: false });
const slidingWindow = (cfg: ConfigReader) => cfg.optionalInt('sliding_window') || undefined;

/** layer_types when config.json lists them (transformers 5 writes them), else the family's own default. */
function layerTypeWindow(cfg: ConfigReader, layer: number, defaultSliding: boolean): number | undefined {
  const types = cfg.raw.layer_types;
  const sliding = Array.isArray(types) ? types[layer] === 'sliding_attention' : defaultSliding;
  return sliding ? slidingWindow(cfg) : undefined;
}

/** Qwen2/Qwen3: sliding only with use_sliding_window, on the layers from max_window_layers on. */
const qwenWindow = (cfg: ConfigReader, layer: number) =>
  cfg.bool('use_sliding_window', false) ? layerTypeWindow(cfg, layer, layer >= cfg.int('max_window_layers', 28, 0)) : undefined;

const FAMILIES: Record<string, Family> = {
  LlamaForCausalLM: {
    names: LLAMA_NAMES, norm: 'rms', residual: 'sequential', activationField: 'hidden_act', window: () => undefined,
    bias: (cfg) => ({ qkv: flag(cfg, 'attention_bias'), out: flag(cfg, 'attention_bias'), mlp: flag(cfg, 'mlp_bias') }),
  },
  MistralForCausalLM: { names: LLAMA_NAMES, norm: 'rms', residual: 'sequential', activationField: 'hidden_act', bias: noBias, window: slidingWindow },
  Qwen2ForCausalLM: {
    names: LLAMA_NAMES, norm: 'rms', residual: 'sequential', activationField: 'hidden_act', window: qwenWindow,
    bias: () => ({ qkv: true, out: false, mlp: false }),
  },
  Qwen3ForCausalLM: {
    names: { ...LLAMA_NAMES, qkNorm: ['q_norm', 'k_norm'] }, norm: 'rms', residual: 'sequential', activationField: 'hidden_act', window: qwenWindow,
    bias: (cfg) => ({ qkv: flag(cfg, 'attention_bias'), out: flag(cfg, 'attention_bias'), mlp: false }),
  },
  Phi3ForCausalLM: {
    names: { ...LLAMA_NAMES, qkv: { blocks: 'qkv_proj' }, up: { gateUp: 'gate_up_proj' } },
    norm: 'rms', residual: 'sequential', activationField: 'hidden_act', bias: noBias, window: slidingWindow,
  },
  Gemma2ForCausalLM: {
    names: { ...LLAMA_NAMES, feedForwardNorm: 'pre_feedforward_layernorm', attentionOutNorm: 'post_attention_layernorm', feedForwardOutNorm: 'post_feedforward_layernorm' },
    norm: 'rmsUnitOffset', residual: 'sandwich', activationField: 'hidden_activation', gemma: true,
    bias: (cfg) => ({ qkv: flag(cfg, 'attention_bias'), out: flag(cfg, 'attention_bias'), mlp: false }),
    window: (cfg, layer) => layerTypeWindow(cfg, layer, (layer + 1) % 2 === 1),
  },
  GPTNeoXForCausalLM: {
    names: {
      root: 'gpt_neox', embed: 'embed_in', finalNorm: 'final_layer_norm', lmHead: 'embed_out', attention: 'attention', out: 'dense', mlp: 'mlp', down: 'dense_4h_to_h',
      attentionNorm: 'input_layernorm', feedForwardNorm: 'post_attention_layernorm', qkv: { perHead: 'query_key_value' }, up: { plain: 'dense_h_to_4h' },
    },
    norm: 'layer', activationField: 'hidden_act', window: () => undefined, defaultPartialRotary: 0.25, residual: 'sequential',
    bias: (cfg) => ({ qkv: cfg.bool('attention_bias', true), out: cfg.bool('attention_bias', true), mlp: true }),
  },
};

export const LLAMA_ARCHITECTURES = Object.keys(FAMILIES);

export interface LlamaRecipe {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  kvHeads: number;
  headDim: number;
  innerSize: number;
  /** Positions a sequence may reach (dynamic RoPE extends max_position_embeddings by its factor). */
  maxPositions: number;
  norm: 'rms' | 'rmsUnitOffset' | 'layer';
  normEps: number;
  residual: Residual;
  activation: Activation;
  rotary: RotaryRecipe;
  bias: { qkv: boolean; out: boolean; mlp: boolean };
  /** Multiplies QKᵀ: head_dim^-0.5, or query_pre_attn_scalar^-0.5 (Gemma 2). */
  attentionScale: number;
  attentionSoftCap?: number;
  finalSoftCap?: number;
  /** Per layer: its sliding window, or undefined for full attention. */
  windows: (number | undefined)[];
  embeddingScale: number;
  tiedEmbeddings: boolean;
  names: Names;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** config.json → the recipe, every field read as transformers reads it, invariants checked with the field named. */
export function llamaRecipe(cfg: ConfigReader): LlamaRecipe {
  const architecture = cfg.architecture ?? '';
  const family = FAMILIES[architecture];
  if (!family) throw new ConfigError(`${cfg.file}: architecture "${architecture}" is not one of ${LLAMA_ARCHITECTURES.join(', ')}`);
  const hiddenSize = cfg.int('hidden_size');
  const numHeads = cfg.int('num_attention_heads');
  const kvHeads = cfg.int('num_key_value_heads', numHeads);
  if (numHeads % kvHeads !== 0) throw new ConfigError(`${cfg.file}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${kvHeads})`);
  const headDim = cfg.int('head_dim', cfg.divisible('hidden_size', hiddenSize, 'num_attention_heads', numHeads));
  const numLayers = cfg.int('num_hidden_layers');
  const rotary = rotaryFromConfig(cfg, headDim, family.defaultPartialRotary);
  const maxPositions = cfg.int('max_position_embeddings');
  const gemma = family.gemma === true;
  const eos = cfg.raw.eos_token_id;
  return Object.freeze({
    architecture,
    vocabSize: cfg.int('vocab_size'),
    hiddenSize,
    numLayers,
    numHeads,
    kvHeads,
    headDim,
    innerSize: cfg.int('intermediate_size'),
    maxPositions: rotary.scaling.kind === 'dynamic' ? Math.floor(maxPositions * rotary.scaling.factor) : maxPositions,
    norm: family.norm,
    normEps: family.norm === 'layer' ? cfg.num('layer_norm_eps', 1e-5) : cfg.num('rms_norm_eps', 1e-6),
    residual: family.residual === 'sequential' && cfg.bool('use_parallel_residual', architecture === 'GPTNeoXForCausalLM') ? 'parallel' : family.residual,
    activation: activationFromName(cfg.str(family.activationField, 'silu'), family.activationField),
    rotary,
    bias: family.bias(cfg),
    attentionScale: 1 / Math.sqrt(gemma ? cfg.num('query_pre_attn_scalar', headDim) : headDim),
    attentionSoftCap: gemma ? cfg.num('attn_logit_softcapping', 0) || undefined : undefined,
    finalSoftCap: gemma ? cfg.num('final_logit_softcapping', 0) || undefined : undefined,
    windows: Array.from({ length: numLayers }, (_, i) => family.window(cfg, i)),
    embeddingScale: gemma ? Math.fround(Math.sqrt(hiddenSize)) : 1,
    tiedEmbeddings: cfg.bool('tie_word_embeddings', gemma),
    names: family.names,
    bosTokenId: cfg.optionalInt('bos_token_id'),
    eosTokenId: Array.isArray(eos) ? (eos[0] as number | undefined) : cfg.optionalInt('eos_token_id'),
  });
}

/** One decoder layer's weights, with the attention settings of that layer (its window). */
export interface LlamaLayer {
  attentionNorm: Norm;
  attention: SelfAttentionWeights;
  attentionRecipe: AttentionRecipe;
  /** Gemma 2's norm of the attention output before it joins h. */
  attentionOutNorm?: Norm;
  feedForwardNorm: Norm;
  feedForward: FeedForwardWeights;
  feedForwardOutNorm?: Norm;
}

function loadLayerNorm(w: Weights, r: LlamaRecipe, size = r.hiddenSize): Norm {
  const norm = loadNorm(w, size, r.normEps, r.norm !== 'layer');
  // Gemma stores the offset from 1: the scale 1 + w is formed once here, in float32 as the reference does
  if (r.norm === 'rmsUnitOffset') norm.weight.data.set(norm.weight.data.map((x) => x + 1));
  return norm;
}

/** Rows of a (rows, cols) matrix reordered: out row i = in row order[i]. */
function permuteRows<T extends WeightArray>(data: T, cols: number, order: number[]): T {
  const out = new (data.constructor as new (n: number) => T)(order.length * cols);
  order.forEach((src, i) => out.set(data.subarray(src * cols, (src + 1) * cols), i * cols));
  return out;
}

/** q, k and v as one linear in q|k|v blocks, whatever way the checkpoint stores them. */
function loadQkv(a: Weights, r: LlamaRecipe): Linear {
  const H = r.hiddenSize, hd = r.headDim, inner = r.numHeads * hd, kvInner = r.kvHeads * hd;
  const qkv = r.names.qkv;
  const bias = r.bias.qkv;
  if ('separate' in qkv) {
    const [q, k, v] = qkv.separate;
    return fuseLinears([loadLinear(a.scope(q), H, inner, { bias }), loadLinear(a.scope(k), H, kvInner, { bias }), loadLinear(a.scope(v), H, kvInner, { bias })]);
  }
  if ('blocks' in qkv) return loadLinear(a.scope(qkv.blocks), H, inner + 2 * kvInner, { bias });
  // GPT-NeoX views the output as (heads, 3·headDim): row 3·hd·h + p·hd + i is part p (q, k, v) of head h
  const order = [0, 1, 2].flatMap((p) => Array.from({ length: inner }, (_, j) => 3 * hd * Math.floor(j / hd) + p * hd + (j % hd)));
  const w = a.scope(qkv.perHead);
  const stored = w.getStored('weight', [3 * inner, H]);
  const storedBias = bias ? w.get('bias', [3 * inner]) : undefined;
  if (storedBias) storedBias.data.set(permuteRows(storedBias.data, 1, order));
  const linear = linearFromRows(stored.dtype, permuteRows<WeightArray>(stored.data, H, order), H, 3 * inner, stored.arena, storedBias, w.quantize);
  stored.dispose();
  return linear;
}

function loadMlp(m: Weights, r: LlamaRecipe): FeedForwardWeights {
  const H = r.hiddenSize, I = r.innerSize, bias = r.bias.mlp;
  const up = r.names.up;
  const down = loadLinear(m.scope(r.names.down), I, H, { bias });
  if ('plain' in up) return { up: loadLinear(m.scope(up.plain), H, I, { bias }), down };
  if ('gate' in up) return { gate: loadLinear(m.scope(up.gate), H, I, { bias }), up: loadLinear(m.scope(up.up), H, I, { bias }), down };
  // Phi-3: gate_up_proj (2I, H), the gate first
  const stored = m.scope(up.gateUp).getStored('weight', [2 * I, H]);
  const rows: WeightArray = stored.data;
  const ffn = { gate: linearFromRows(stored.dtype, rows.subarray(0, I * H), H, I, stored.arena, undefined, m.quantize), up: linearFromRows(stored.dtype, rows.subarray(I * H), H, I, stored.arena, undefined, m.quantize), down };
  stored.dispose();
  return ffn;
}

function loadLayer(l: Weights, r: LlamaRecipe, window: number | undefined): LlamaLayer {
  const n = r.names;
  const a = l.scope(n.attention);
  const qkv = loadQkv(a, r);
  const attention: SelfAttentionWeights = { qkv, out: loadLinear(a.scope(n.out), r.numHeads * r.headDim, r.hiddenSize, { bias: r.bias.out }) };
  if (n.qkNorm) {
    attention.queryNorm = loadLayerNorm(a.scope(n.qkNorm[0]), r, r.headDim);
    attention.keyNorm = loadLayerNorm(a.scope(n.qkNorm[1]), r, r.headDim);
  }
  return {
    attentionNorm: loadLayerNorm(l.scope(n.attentionNorm), r),
    attention,
    attentionRecipe: { numHeads: r.numHeads, kvHeads: r.kvHeads, headDim: r.headDim, scale: r.attentionScale, window, softCap: r.attentionSoftCap },
    attentionOutNorm: n.attentionOutNorm ? loadLayerNorm(l.scope(n.attentionOutNorm), r) : undefined,
    feedForwardNorm: loadLayerNorm(l.scope(n.feedForwardNorm), r),
    feedForward: loadMlp(l.scope(n.mlp), r),
    feedForwardOutNorm: n.feedForwardOutNorm ? loadLayerNorm(l.scope(n.feedForwardOutNorm), r) : undefined,
  };
}

/** What one layer call needs besides h: the attention context shared by every layer, and this layer's cache. */
interface LayerInputs {
  batch: number;
  length: number;
  keyMask: Tensor<'int32'>;
  rotary: { cos: Tensor<'float32'>; sin: Tensor<'float32'>; rotaryDim: number };
  cache: KVCache;
  /** When given, (batch, heads, length, keyLength) receives the attention weights. */
  probs?: Tensor<'float32'>;
}

/** h += norm(x), in place: Gemma 2's sandwich joins a normed branch to the residual stream. */
async function addNormed(engine: Engine, scope: Scope, h: Tensor<'float32'>, x: Tensor<'float32'>, norm: Norm): Promise<Tensor<'float32'>> {
  const normed = await runNorm(engine, scope, x, norm, undefined, x);
  const hd = h.data, nd = normed.data;
  for (let i = 0; i < hd.length; i++) hd[i] += nd[i];
  return h;
}

/** h (rows, hidden) -> (rows, hidden): one decoder layer, its branches joined as the recipe says. */
async function decoderLayer(engine: Engine, scope: Scope, h: Tensor<'float32'>, w: LlamaLayer, r: LlamaRecipe, inputs: LayerInputs): Promise<Tensor<'float32'>> {
  const ctx = { ...inputs, causal: true };
  const attend = (residual?: Tensor<'float32'>) => async (x: Tensor<'float32'>) => selfAttention(engine, scope, x, w.attention, w.attentionRecipe, { ...ctx, residual });
  const mlp = (x: Tensor<'float32'>, residual?: Tensor<'float32'>) => feedForward(engine, scope, x, w.feedForward, r.activation, residual);
  const normed = (x: Tensor<'float32'>, n: Norm) => runNorm(engine, scope, x, n);
  switch (r.residual) {
    case 'sequential': {
      const a = await attend(h)(await normed(h, w.attentionNorm));
      return mlp(await normed(a, w.feedForwardNorm), a);
    }
    case 'parallel': {
      const a = await attend(h)(await normed(h, w.attentionNorm));
      return mlp(await normed(h, w.feedForwardNorm), a);
    }
    case 'sandwich': {
      const a = await addNormed(engine, scope, h, await attend()(await normed(h, w.attentionNorm)), w.attentionOutNorm!);
      return addNormed(engine, scope, a, await mlp(await normed(a, w.feedForwardNorm)), w.feedForwardOutNorm!);
    }
  }
}

export class LlamaModel extends CausalModel<LlamaSession> {
  readonly embeddingRecipe: EmbeddingRecipe;

  private constructor(
    readonly recipe: LlamaRecipe,
    /** The token embeddings, packed as a linear (vocab, hidden): a tied LM head is this same table. */
    readonly embedding: Linear,
    readonly layers: LlamaLayer[],
    readonly finalNorm: Norm,
    readonly lmHead: Linear,
    readonly engine: Engine,
    readonly generationConfig: GenerationConfig,
    private readonly owned: Tensor[],
  ) {
    super();
    this.embeddingRecipe = { vocabSize: recipe.vocabSize, hiddenSize: recipe.hiddenSize, scale: recipe.embeddingScale, position: { kind: 'none' } };
  }

  static load(dir: string, engine: Engine = sharedEngine(), cfg: ConfigReader = ConfigReader.read(dir), options: LoadOptions = {}): LlamaModel {
    const r = llamaRecipe(cfg);
    const ckpt = Checkpoint.open(dir, engine.arena);
    checkMemory(ckpt, r, engine.arena, options.dtype);
    return loadOwned(engine.arena, (owned) => {
      const root = Weights.from(ckpt, weightsOptions(options, 'generator'));
      const n = r.names;
      const m = root.scope(n.root);
      const H = r.hiddenSize;
      const embedding = loadLinear(m.scope(n.embed), H, r.vocabSize, { bias: false, float: true });
      const layers = r.windows.map((window, i) => loadLayer(m.scope('layers', i), r, window));
      const finalNorm = loadLayerNorm(m.scope(n.finalNorm), r);
      // a tied head reads the embedding table (or its quantized copy); some tied checkpoints still store a copy of it
      const lmHead = r.tiedEmbeddings ? tiedHead(embedding, root.quantize) : loadLinear(root.scope(n.lmHead), H, r.vocabSize, { bias: false, head: true });
      if (r.tiedEmbeddings) root.ignore(new RegExp(`^${n.lmHead}\\.weight$`));
      // rotary inverse frequencies some checkpoints store are recomputed from the config
      root.ignore(/\.rotary_emb\.inv_freq$|\.attention\.(bias|masked_bias)$/);
      root.finish();
      return new LlamaModel(r, embedding, layers, finalNorm, lmHead, engine, readGenerationConfig(dir, cfg), owned);
    });
  }

  protected session(rows: number, capacity: number): LlamaSession {
    return new LlamaSession(this, rows, capacity);
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
  }
}

/**
 * The keys and values of every layer for `rows` sequences, the mask of every position fed so far and each row's
 * next position id. A sliding layer's cache holds its window (and room to append), not the whole sequence.
 */
export class LlamaSession extends CachedSession {
  constructor(private readonly model: LlamaModel, rows: number, capacity: number) {
    const r = model.recipe;
    super(rows, r.vocabSize, r.windows.map((window) => createCache(rows, window ? Math.min(capacity, 2 * window) : capacity, r.kvHeads * r.headDim, model.engine.arena)));
  }

  /**
   * tokens/mask (rows, n) -> logits (rows, vocab) of the last position, or (rows, n, vocab) when allPositions.
   * When `attentions` is given, each layer's weights (rows, heads, n, keys it attended) are appended to it.
   */
  async feed(tokens: Int32Array, n: number, newMask: Int32Array, allPositions: boolean, attentions?: Float32Array[]): Promise<Float32Array> {
    const { model, rows } = this;
    const r = model.recipe;
    const positions = this.positions.advance(newMask, n);
    const scope = new Scope(model.engine.arena);
    try {
      let h = await embed(model.engine, scope, { word: floatWeight(model.embedding, 'the embedding table'), packed: true }, model.embeddingRecipe, tokens);
      const keyMask = this.positions.keyMask(scope);
      const rotary = { ...rotaryTable(scope, r.rotary, positions), rotaryDim: r.rotary.rotaryDim };
      for (let l = 0; l < model.layers.length; l++) {
        const cache = this.caches[l];
        const probs = attentions && scope.f32([rows, r.numHeads, n, keysAfterAppend(cache, n, r.windows[l])]);
        h = await decoderLayer(model.engine, scope, h, model.layers[l], r, { batch: rows, length: n, keyMask, rotary, cache, probs });
        if (probs) attentions!.push(probs.toArray() as Float32Array);
      }
      h = await runNorm(model.engine, scope, h, model.finalNorm);
      const last = allPositions ? h : lastPositions(scope, h, rows, n, r.hiddenSize);
      const logits = (await runLinear(model.engine, scope, last, model.lmHead)).toArray() as Float32Array;
      const cap = r.finalSoftCap;
      if (cap) for (let i = 0; i < logits.length; i++) logits[i] = Math.tanh(logits[i] / cap) * cap;
      return logits;
    } finally {
      scope.dispose();
    }
  }

}
