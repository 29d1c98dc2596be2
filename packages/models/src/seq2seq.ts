/**
 * Encoder-decoder Transformers — the paper's full architecture — as one recipe over two weight layouts:
 * the BART layout (`model.{encoder,decoder}.layers.N.self_attn…`), whose families differ only in data (LAYOUTS):
 *   BART    (BartForConditionalGeneration): learned positions +2, layernorm_embedding, post-LN, final_logits_bias.
 *   Marian  (MarianMTModel): fixed sinusoidal positions, embeddings ×√d, post-LN, decoding starts with pad.
 *   mBART   (MBartForConditionalGeneration): BART's embeddings, pre-LN with a final layer_norm in each stack.
 *   M2M100  (M2M100ForConditionalGeneration, NLLB): pre-LN, fairseq sinusoids numbered from padding_idx by the ids.
 *   Pegasus (PegasusForConditionalGeneration): pre-LN, a stored sinusoidal table at positions 0…, final norms.
 * and the T5 layout (`encoder.block.N.layer.M…`):
 *   T5 / mT5 (T5ForConditionalGeneration, MT5ForConditionalGeneration): no absolute positions but a relative bias
 *          shared by all layers, RMSNorm, pre-LN, no biases, unscaled scores, ReLU or gated-GELU FFN; mT5's
 *          lm_head is its own and never rescaled.
 */
import { Checkpoint, Weights } from '@attnflow/checkpoint';
import { weightsOptions, type LoadOptions } from './dtype.js';
import { loadOwned } from './owned.js';
import { decoderStack, resolveGenerationConfig, type DecodeHooks, type DecodingSession, type GenerationConfig, type TokenEvent } from '@attnflow/decoder';
import { embed, fairseqSinusoidalTable, paddingPositions, rangePositions, relativePositionBias, sinusoidalTable, type EmbeddingRecipe, type EmbeddingWeights } from '@attnflow/embedding';
import { encoderStack } from '@attnflow/encoder';
import { Activation, sharedEngine, type Engine } from '@attnflow/kernels';
import { activationFromName, createCache, crossKeyValues, disposeCache, fuseLinears, loadLinear, loadNorm, reorderCache, runLinear, tiedHead, type BlockRecipe, type BlockWeights, type CrossAttentionWeights, type KVCache, type Linear, type Norm } from '@attnflow/layers';
import { Scope, Tensor } from '@attnflow/tensor';
import { ConfigError, ConfigReader } from './config.js';
import type { Observable } from 'rxjs';
import { generateSeq2Seq, readGenerationConfig, streamGeneration, type Seq2SeqLM } from './generation.js';

export type Seq2SeqFamily = 'bart' | 'marian' | 'mbart' | 'm2m100' | 'pegasus' | 't5';

/** What tells the BART-layout families apart. */
interface BartLayout {
  placement: 'post' | 'pre';
  /** layernorm_embedding over the embedding sum. */
  embeddingNorm: boolean;
  /** encoder.layer_norm / decoder.layer_norm after the last layer. */
  finalNorm: boolean;
  /**
   * learned: stored table read at position + 2; stored-sinusoidal: stored table at position + 0; sinusoidal: the
   * paper's table built at load; fairseq-sinusoidal: M2M100's table built at load, numbered from padding_idx.
   */
  positions: 'learned' | 'stored-sinusoidal' | 'sinusoidal' | 'fairseq-sinusoidal';
}

const LAYOUTS: Record<Exclude<Seq2SeqFamily, 't5'>, BartLayout> = {
  bart: { placement: 'post', embeddingNorm: true, finalNorm: false, positions: 'learned' },
  marian: { placement: 'post', embeddingNorm: false, finalNorm: false, positions: 'sinusoidal' },
  mbart: { placement: 'pre', embeddingNorm: true, finalNorm: true, positions: 'learned' },
  m2m100: { placement: 'pre', embeddingNorm: false, finalNorm: true, positions: 'fairseq-sinusoidal' },
  pegasus: { placement: 'pre', embeddingNorm: false, finalNorm: true, positions: 'stored-sinusoidal' },
};

export interface Seq2SeqRecipe {
  family: Seq2SeqFamily;
  vocabSize: number;
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  numHeads: number;
  headDim: number;
  ffnSize: number;
  activation: Activation;
  gated: boolean;
  placement: 'post' | 'pre';
  /** BART layout only: what its family changes (see LAYOUTS). */
  layout?: BartLayout;
  rms: boolean;
  eps: number;
  bias: boolean;
  attentionScale: number;
  embedScale: number;
  position: EmbeddingRecipe['position'];
  maxPositions: number;
  relativeBuckets: number;
  relativeMaxDistance: number;
  /** T5 with tied embeddings scales the decoder output by d_model^-0.5 before the LM head. */
  lmHeadScale: number;
  decoderStartTokenId: number;
  eosTokenId: number;
  padTokenId: number;
}

const FAMILIES: Record<string, Seq2SeqFamily> = {
  BartForConditionalGeneration: 'bart', BartForSequenceClassification: 'bart', MarianMTModel: 'marian', MBartForConditionalGeneration: 'mbart',
  M2M100ForConditionalGeneration: 'm2m100', PegasusForConditionalGeneration: 'pegasus', T5ForConditionalGeneration: 't5', MT5ForConditionalGeneration: 't5',
};
export const SEQ2SEQ_ARCHITECTURES = Object.keys(FAMILIES);
/** The class a config.json without "architectures" means, by model_type. */
export const SEQ2SEQ_BY_MODEL_TYPE: Record<string, string> = {
  bart: 'BartForConditionalGeneration', marian: 'MarianMTModel', mbart: 'MBartForConditionalGeneration', m2m_100: 'M2M100ForConditionalGeneration',
  pegasus: 'PegasusForConditionalGeneration', t5: 'T5ForConditionalGeneration', mt5: 'MT5ForConditionalGeneration',
};

export function seq2seqRecipe(cfg: ConfigReader): Seq2SeqRecipe {
  const arch = cfg.architecture ?? SEQ2SEQ_BY_MODEL_TYPE[cfg.str('model_type', '')] ?? '';
  const family = FAMILIES[arch];
  if (!family) throw new ConfigError(`${cfg.file}: architecture "${arch}" is not an encoder-decoder attnflow supports (supported: ${SEQ2SEQ_ARCHITECTURES.join(', ')})`);
  const dModel = cfg.int('d_model');
  const pad = cfg.int('pad_token_id', 0, 0);
  const common = {
    family,
    vocabSize: cfg.int('vocab_size'),
    dModel,
    decoderStartTokenId: cfg.int('decoder_start_token_id', pad, 0),
    eosTokenId: cfg.int('eos_token_id', 1, 0),
    padTokenId: pad,
  };
  if (family === 't5') {
    const numHeads = cfg.int('num_heads');
    const proj = cfg.str('feed_forward_proj', 'relu');
    const gated = proj.startsWith('gated-');
    const act = gated ? proj.slice('gated-'.length) : proj;
    const tied = cfg.bool('tie_word_embeddings', true);
    // MT5ForConditionalGeneration never rescales; its config's tie_word_embeddings is forced true by MT5Config
    const scaleOut = arch === 'MT5ForConditionalGeneration' ? false : cfg.raw.scale_decoder_outputs === undefined ? tied : cfg.bool('scale_decoder_outputs', tied);
    return Object.freeze({
      ...common,
      encoderLayers: cfg.int('num_layers'),
      decoderLayers: cfg.int('num_decoder_layers', cfg.int('num_layers')),
      numHeads,
      headDim: cfg.int('d_kv'),
      ffnSize: cfg.int('d_ff'),
      activation: activationFromName(act === 'gelu' ? 'gelu_new' : act, 'feed_forward_proj'),
      gated,
      placement: 'pre' as const,
      rms: true,
      eps: cfg.num('layer_norm_epsilon', 1e-6),
      bias: false,
      attentionScale: 1,
      embedScale: 1,
      position: { kind: 'none' as const },
      maxPositions: 0,
      relativeBuckets: cfg.int('relative_attention_num_buckets', 32),
      relativeMaxDistance: cfg.int('relative_attention_max_distance', 128),
      lmHeadScale: scaleOut ? dModel ** -0.5 : 1,
    });
  }
  const numHeads = cfg.int('encoder_attention_heads');
  if (cfg.int('decoder_attention_heads', numHeads) !== numHeads) throw new ConfigError(`${cfg.file}: encoder_attention_heads and decoder_attention_heads differ; attnflow expects them equal`);
  const ffnSize = cfg.int('encoder_ffn_dim');
  if (cfg.int('decoder_ffn_dim', ffnSize) !== ffnSize) throw new ConfigError(`${cfg.file}: encoder_ffn_dim and decoder_ffn_dim differ; attnflow expects them equal`);
  const headDim = cfg.divisible('d_model', dModel, 'encoder_attention_heads', numHeads);
  const layout = LAYOUTS[family];
  if (layout.placement === 'post' && cfg.bool('normalize_before', false)) throw new ConfigError(`${cfg.file}: normalize_before with ${arch} is not supported (pre-LN checkpoints of this layout are MBart/M2M100/Pegasus classes)`);
  const position: EmbeddingRecipe['position'] = layout.positions === 'learned' ? { kind: 'learned', offset: 2 }
    : layout.positions === 'stored-sinusoidal' ? { kind: 'learned', offset: 0 }
    : { kind: 'sinusoidal', offset: 0 };
  return Object.freeze({
    ...common,
    encoderLayers: cfg.int('encoder_layers'),
    decoderLayers: cfg.int('decoder_layers'),
    numHeads,
    headDim,
    ffnSize,
    activation: activationFromName(cfg.str('activation_function', 'gelu'), 'activation_function'),
    gated: false,
    placement: layout.placement,
    layout,
    rms: false,
    eps: 1e-5,
    bias: true,
    attentionScale: 1 / Math.sqrt(headDim),
    embedScale: cfg.bool('scale_embedding', false) ? Math.sqrt(dModel) : 1,
    position,
    maxPositions: cfg.int('max_position_embeddings', 1024),
    relativeBuckets: 0,
    relativeMaxDistance: 0,
    lmHeadScale: 1,
  });
}

interface Side {
  embeddings: EmbeddingWeights;
  layers: BlockWeights[];
  finalNorm?: Norm;
  /** T5: (numBuckets, numHeads), from block 0, used by every layer. */
  relativeBias?: Tensor<'float32'>;
}

export interface Seq2SeqInputs {
  batch: number;
  length: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
}

export interface Seq2SeqOutputs {
  encoderLastHiddenState: Float32Array;
  logits: Float32Array;
  /** Per layer (batch, heads, srcLen, srcLen). */
  encoderAttentions?: Float32Array[];
  /** Per layer (batch, heads, tgtLen, tgtLen), causal. */
  decoderAttentions?: Float32Array[];
  /** Per layer (batch, heads, tgtLen, srcLen). */
  crossAttentions?: Float32Array[];
}

/** The encoder's output for a batch: hidden (batch*length, dModel) and its mask; free with dispose(). */
export interface Encoded {
  batch: number;
  length: number;
  hidden: Tensor<'float32'>;
  mask: Int32Array;
  dispose(): void;
}

export class Seq2SeqModel implements Seq2SeqLM<Seq2SeqInputs, Encoded> {
  readonly blockRecipe: BlockRecipe;
  readonly embeddingRecipe: EmbeddingRecipe;
  private constructor(
    readonly recipe: Seq2SeqRecipe,
    readonly encoder: Side,
    readonly decoder: Side,
    /** Tied to the shared embedding table or its own, with BART's final_logits_bias. */
    readonly lmHead: Linear,
    readonly engine: Engine,
    readonly generationConfig: GenerationConfig,
    private readonly owned: Tensor[],
    /** BartForSequenceClassification's head: dense → tanh → out_proj over the decoder state at the last EOS. */
    readonly classifier?: { dense: Linear; out: Linear; numLabels: number },
  ) {
    this.blockRecipe = { attention: { numHeads: recipe.numHeads, headDim: recipe.headDim, scale: recipe.attentionScale }, placement: recipe.placement, activation: recipe.activation };
    this.embeddingRecipe = { vocabSize: recipe.vocabSize, hiddenSize: recipe.dModel, scale: recipe.embedScale, position: recipe.position };
  }

  static load(dir: string, engine: Engine = sharedEngine(), cfg: ConfigReader = ConfigReader.read(dir), options: LoadOptions = {}): Seq2SeqModel {
    return loadOwned(engine.arena, (owned) => {
      const r = seq2seqRecipe(cfg);
      const ckpt = Checkpoint.open(dir, engine.arena);
      const root = Weights.from(ckpt, weightsOptions(options, 'generator'));
      const D = r.dModel;
      const inner = r.numHeads * r.headDim;
      const lin = (w: Weights, inF: number, outF: number) => loadLinear(w, inF, outF, { bias: r.bias });
      const norm = (w: Weights) => loadNorm(w, D, r.eps, r.rms);
      let encoder: Side;
      let decoder: Side;
      let lmHead: Tensor<'float32'>;
      let untiedHead: Tensor<'float32'> | undefined;
      let finalLogitsBias: Tensor<'float32'> | undefined;
      if (r.family === 't5') {
        const shared = root.scope('shared').get('weight', [r.vocabSize, D]);
        const side = (name: 'encoder' | 'decoder', layers: number): Side => {
          const s = root.scope(name);
          s.ignore(new RegExp(`^${name}\\.embed_tokens\\.weight$`)); // tied to shared when stored
          const blocks = Array.from({ length: layers }, (_, i): BlockWeights => {
            const b = s.scope('block', i, 'layer');
            const selfAttn = b.scope(0, 'SelfAttention');
            const ffIndex = name === 'decoder' ? 2 : 1;
            const ff = b.scope(ffIndex, 'DenseReluDense');
            const cross: Partial<BlockWeights> = name === 'decoder' ? {
              crossAttention: crossWeights(b.scope(1, 'EncDecAttention'), D, inner, lin, 'q', 'k', 'v', 'o'),
              crossAttentionNorm: norm(b.scope(1, 'layer_norm')),
            } : {};
            return {
              selfAttention: { qkv: fuseLinears(['q', 'k', 'v'].map((p) => lin(selfAttn.scope(p), D, inner))), out: lin(selfAttn.scope('o'), inner, D) },
              selfAttentionNorm: norm(b.scope(0, 'layer_norm')),
              ...cross,
              feedForward: r.gated
                ? { gate: lin(ff.scope('wi_0'), D, r.ffnSize), up: lin(ff.scope('wi_1'), D, r.ffnSize), down: lin(ff.scope('wo'), r.ffnSize, D) }
                : { up: lin(ff.scope('wi'), D, r.ffnSize), down: lin(ff.scope('wo'), r.ffnSize, D) },
              feedForwardNorm: norm(b.scope(ffIndex, 'layer_norm')),
            };
          });
          return {
            embeddings: { word: shared },
            layers: blocks,
            finalNorm: norm(s.scope('final_layer_norm')),
            relativeBias: s.scope('block.0.layer.0.SelfAttention.relative_attention_bias').get('weight', [r.relativeBuckets, r.numHeads]),
          };
        };
        encoder = side('encoder', r.encoderLayers);
        decoder = side('decoder', r.decoderLayers);
        untiedHead = root.optional('lm_head.weight', [r.vocabSize, D]);
        lmHead = untiedHead ?? shared;
      } else {
        const m = root.scope('model');
        const shared = m.scope('shared').get('weight', [r.vocabSize, D]);
        const layout = r.layout!;
        let sinusoids: Tensor<'float32'> | undefined;
        if (layout.positions === 'sinusoidal') sinusoids = sinusoidalTable(r.maxPositions, D, engine.arena);
        // fairseq numbers real tokens from padding_idx + 1 and gives padding the zero row padding_idx
        if (layout.positions === 'fairseq-sinusoidal') sinusoids = fairseqSinusoidalTable(r.maxPositions + r.padTokenId + 1, D, r.padTokenId, engine.arena);
        const side = (name: 'encoder' | 'decoder', layers: number): Side => {
          const s = m.scope(name);
          s.ignore(new RegExp(`^model\\.${name}\\.embed_tokens\\.weight$`));
          if (sinusoids) s.ignore(new RegExp(`^model\\.${name}\\.embed_positions\\.(weight|_float_tensor)$`)); // fixed; rebuilt, never trained
          const blocks = Array.from({ length: layers }, (_, i): BlockWeights => {
            const l = s.scope('layers', i);
            const cross: Partial<BlockWeights> = name === 'decoder' ? {
              crossAttention: crossWeights(l.scope('encoder_attn'), D, inner, lin, 'q_proj', 'k_proj', 'v_proj', 'out_proj'),
              crossAttentionNorm: norm(l.scope('encoder_attn_layer_norm')),
            } : {};
            return {
              selfAttention: { qkv: fuseLinears(['q_proj', 'k_proj', 'v_proj'].map((p) => lin(l.scope('self_attn', p), D, inner))), out: lin(l.scope('self_attn.out_proj'), inner, D) },
              selfAttentionNorm: norm(l.scope('self_attn_layer_norm')),
              ...cross,
              feedForward: { up: lin(l.scope('fc1'), D, r.ffnSize), down: lin(l.scope('fc2'), r.ffnSize, D) },
              feedForwardNorm: norm(l.scope('final_layer_norm')),
            };
          });
          return {
            embeddings: {
              word: shared,
              position: sinusoids ?? s.scope('embed_positions').get('weight', [r.maxPositions + (r.position.kind === 'none' ? 0 : r.position.offset), D]),
              norm: layout.embeddingNorm ? norm(s.scope('layernorm_embedding')) : undefined,
            },
            layers: blocks,
            finalNorm: layout.finalNorm ? norm(s.scope('layer_norm')) : undefined,
          };
        };
        encoder = side('encoder', r.encoderLayers);
        decoder = side('decoder', r.decoderLayers);
        untiedHead = root.optional('lm_head.weight', [r.vocabSize, D]);
        lmHead = untiedHead ?? shared;
        const flb = root.optional('final_logits_bias', [1, r.vocabSize]);
        finalLogitsBias = flb?.reshape([r.vocabSize]);
      }
      const numLabels = Object.keys(cfg.labels() ?? {}).length || cfg.int('num_labels', 3);
      const classifier = root.has('classification_head.dense.weight')
        ? { dense: lin(root.scope('classification_head.dense'), D, D), out: lin(root.scope('classification_head.out_proj'), D, numLabels), numLabels }
        : undefined;
      const head = tiedHead({ weight: lmHead, bias: finalLogitsBias, inFeatures: D, outFeatures: r.vocabSize }, root.quantize);
      // an untied head's floats are read by nothing once quantized
      if (head.weight !== lmHead) untiedHead?.dispose();
      root.finish();
      const { decoderStartTokenId, eosTokenId, padTokenId } = r;
      const generation = resolveGenerationConfig({ decoderStartTokenId, eosTokenId, padTokenId }, readGenerationConfig(dir, cfg));
      return new Seq2SeqModel(r, encoder, decoder, head, engine, generation, owned, classifier);
    });
  }

  /**
   * BartForSequenceClassification: the decoder reads the input shifted right (decoder start token first); the
   * classification head reads its state at each row's last EOS of the input. Logits (batch, numLabels).
   */
  async classify(inputs: Seq2SeqInputs): Promise<Float32Array> {
    const head = this.classifier;
    if (!head) throw new ConfigError(`this ${this.recipe.family} checkpoint has no classification_head`);
    const { batch, length } = inputs;
    const D = this.recipe.dModel;
    const rows = Array.from({ length: batch }, (_, b) => Array.from(inputs.inputIds.subarray(b * length, (b + 1) * length)));
    const shifted = rows.map((ids) => [this.recipe.decoderStartTokenId, ...ids.slice(0, -1)]);
    const encoded = await this.encode(inputs);
    const session = await Seq2SeqSession.create(this, encoded, 1, length);
    const hidden: Float32Array[] = [];
    const scope = new Scope(this.engine.arena);
    try {
      await session.feed(Int32Array.from(shifted.flat()), length, true, undefined, undefined, hidden);
      const states = scope.f32([batch, D]);
      rows.forEach((ids, b) => {
        const at = ids.lastIndexOf(this.recipe.eosTokenId);
        if (at < 0) throw new ConfigError(`row ${b} has no EOS token (${this.recipe.eosTokenId}); BART classification reads the state there`);
        states.data.set(hidden[0].subarray((b * length + at) * D, (b * length + at + 1) * D), b * D);
      });
      const features = await runLinear(this.engine, scope, states, head.dense, { activation: Activation.tanh });
      return (await runLinear(this.engine, scope, features, head.out)).toArray() as Float32Array;
    } finally {
      scope.dispose();
      session.dispose();
      encoded.dispose();
    }
  }

  /** Runs the encoder once over a right-padded batch (with its attention weights when asked). */
  async encode(inputs: Seq2SeqInputs, options: { outputAttentions?: boolean } = {}): Promise<Encoded & { attentions?: Float32Array[] }> {
    const { batch, length } = inputs;
    const scope = new Scope(this.engine.arena);
    try {
      const x = await embed(this.engine, scope, this.encoder.embeddings, this.embeddingRecipe, inputs.inputIds, this.positionIds(inputs.inputIds, batch, length, 0));
      const keyMask = scope.i32(inputs.attentionMask, [batch, length]);
      const positionBias = this.encoder.relativeBias && relativePositionBias(this.encoder.relativeBias, 0, length, length, this.relativeOptions(true), this.engine.arena);
      let out;
      try {
        out = await encoderStack(this.engine, scope, x, this.encoder.layers, this.blockRecipe, { batch, length, keyMask, positionBias }, this.encoder.finalNorm, options);
      } finally {
        positionBias?.dispose();
      }
      const hidden = scope.keep(out.hidden);
      const attentions = out.attentions?.map((t) => t.toArray() as Float32Array);
      return { batch, length, hidden, mask: inputs.attentionMask, attentions, dispose: () => hidden.dispose() };
    } finally {
      scope.dispose();
    }
  }

  /** Rows of the position table for `length` new tokens per row after `past` ones. */
  positionIds(ids: Int32Array, rows: number, length: number, past: number): Int32Array {
    return this.recipe.layout?.positions === 'fairseq-sinusoidal' ? paddingPositions(ids, rows, length, this.recipe.padTokenId, past) : rangePositions(rows, length, past);
  }

  relativeOptions(bidirectional: boolean) {
    return { bidirectional, numBuckets: this.recipe.relativeBuckets, maxDistance: this.recipe.relativeMaxDistance };
  }

  /**
   * Teacher-forced decoding: logits (batch, decoderLength, vocab) for given decoder inputs; with
   * outputAttentions also the encoder's, the decoder's causal and the cross-attention weights per layer.
   */
  async forward(inputs: Seq2SeqInputs, decoderInputIds: number[][], options: { outputAttentions?: boolean } = {}): Promise<Seq2SeqOutputs> {
    const encoded = await this.encode(inputs, options);
    const T = decoderInputIds[0].length;
    const session = await Seq2SeqSession.create(this, encoded, 1, T);
    try {
      const decoderAttentions = options.outputAttentions ? [] as Float32Array[] : undefined;
      const crossAttentions = options.outputAttentions ? [] as Float32Array[] : undefined;
      const logits = await session.feed(Int32Array.from(decoderInputIds.flat()), T, true, decoderAttentions, crossAttentions);
      return { encoderLastHiddenState: encoded.hidden.toArray() as Float32Array, logits, encoderAttentions: encoded.attentions, decoderAttentions, crossAttentions };
    } finally {
      session.dispose();
      encoded.dispose();
    }
  }

  /**
   * A decoding session for the encoded batch (each input repeated `beams` times), after the decoder start token:
   * the session and the logits for the first generated token.
   */
  async start(encoded: Encoded, options: { maxNewTokens: number; beams?: number; decoderStartTokenId?: number }): Promise<{ session: DecodingSession; logits: Float32Array }> {
    const beams = options.beams ?? 1;
    const session = await Seq2SeqSession.create(this, encoded, beams, options.maxNewTokens + 1);
    try {
      const start = new Int32Array(encoded.batch * beams).fill(options.decoderStartTokenId ?? this.recipe.decoderStartTokenId);
      const logits = await session.feed(start, 1, false);
      return { session, logits };
    } catch (e) {
      session.dispose();
      throw e;
    }
  }

  /** Outputs for a right-padded batch of sources with this model's generation settings under `config`. */
  generate(inputs: Seq2SeqInputs, config?: GenerationConfig, hooks?: DecodeHooks): Promise<number[][]> {
    return generateSeq2Seq(this, inputs, config, hooks);
  }

  /** One source's output as it is produced. */
  generateStream(inputs: Seq2SeqInputs, config: GenerationConfig | undefined, decodeText: (ids: number[]) => string, stopSequences?: number[][]): Observable<TokenEvent> {
    return streamGeneration(this, (c, hooks) => this.generate(inputs, c, hooks), config, decodeText, stopSequences);
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
  }
}

function crossWeights(w: Weights, D: number, inner: number, lin: (w: Weights, i: number, o: number) => Linear, q: string, k: string, v: string, o: string): CrossAttentionWeights {
  return { query: lin(w.scope(q), D, inner), keyValue: fuseLinears([lin(w.scope(k), D, inner), lin(w.scope(v), D, inner)]), out: lin(w.scope(o), inner, D) };
}

class Seq2SeqSession implements DecodingSession {
  readonly vocabSize: number;
  readonly rows: number;
  private position = 0;

  private constructor(
    private readonly model: Seq2SeqModel,
    private readonly caches: KVCache[],
    private readonly crossKV: Tensor<'float32'>[],
    private readonly sourceMask: Tensor<'int32'>,
    private readonly sourceLength: number,
    rows: number,
  ) {
    this.vocabSize = model.recipe.vocabSize;
    this.rows = rows;
  }

  /** Cross-attention keys/values are computed once per input and repeated for its beams. */
  static async create(model: Seq2SeqModel, encoded: Encoded, beams: number, capacity: number): Promise<Seq2SeqSession> {
    const { batch, length } = encoded;
    const rows = batch * beams;
    const inner = model.recipe.numHeads * model.recipe.headDim;
    const arena = model.engine.arena;
    const scope = new Scope(arena);
    try {
      const crossKV = [];
      for (const layer of model.decoder.layers) {
        const kv = await crossKeyValues(model.engine, scope, encoded.hidden, layer.crossAttention!);
        const repeated = Tensor.empty('float32', [rows * length, 2 * inner], arena);
        const rowSize = length * 2 * inner;
        for (let b = 0; b < batch; b++) for (let k = 0; k < beams; k++) repeated.data.set(kv.data.subarray(b * rowSize, (b + 1) * rowSize), (b * beams + k) * rowSize);
        crossKV.push(repeated);
      }
      const mask = Tensor.empty('int32', [rows, length], arena);
      for (let b = 0; b < batch; b++) for (let k = 0; k < beams; k++) mask.data.set(encoded.mask.subarray(b * length, (b + 1) * length), (b * beams + k) * length);
      const caches = model.decoder.layers.map(() => createCache(rows, capacity, inner, arena));
      return new Seq2SeqSession(model, caches, crossKV, mask, length, rows);
    } finally {
      scope.dispose();
    }
  }

  step(tokens: Int32Array, n: number): Promise<Float32Array> {
    return this.feed(tokens, n, false);
  }

  /** Logits after `tokens`; `hidden`, when given, also receives the decoder's last hidden states (rows, n, dModel). */
  async feed(tokens: Int32Array, n: number, allPositions: boolean, attentions?: Float32Array[], crossAttentions?: Float32Array[], hidden?: Float32Array[]): Promise<Float32Array> {
    const { model, rows } = this;
    const D = model.recipe.dModel;
    const scope = new Scope(model.engine.arena);
    try {
      const x = await embed(model.engine, scope, model.decoder.embeddings, model.embeddingRecipe, tokens, model.positionIds(tokens, rows, n, this.position));
      const kLen = this.position + n;
      const positionBias = model.decoder.relativeBias && relativePositionBias(model.decoder.relativeBias, this.position, n, kLen, model.relativeOptions(false), model.engine.arena);
      const H = model.recipe.numHeads;
      const selfProbs = attentions && model.decoder.layers.map(() => scope.f32([rows, H, n, kLen]));
      const crossProbs = crossAttentions && model.decoder.layers.map(() => scope.f32([rows, H, n, this.sourceLength]));
      let h: Tensor<'float32'>;
      try {
        h = await decoderStack(model.engine, scope, x, model.decoder.layers, model.blockRecipe, {
          batch: rows, length: n, positionBias, caches: this.caches, attentions: selfProbs, crossAttentions: crossProbs,
          cross: { keyValues: this.crossKV, sourceLength: this.sourceLength, keyMask: this.sourceMask },
        }, model.decoder.finalNorm);
      } finally {
        positionBias?.dispose();
      }
      if (selfProbs) attentions!.push(...selfProbs.map((t) => t.toArray() as Float32Array));
      if (crossProbs) crossAttentions!.push(...crossProbs.map((t) => t.toArray() as Float32Array));
      hidden?.push(h.toArray() as Float32Array);
      this.position += n;
      let last = h;
      if (!allPositions && n > 1) {
        last = scope.f32([rows, D]);
        for (let r = 0; r < rows; r++) last.data.set(h.data.subarray((r * n + n - 1) * D, (r * n + n) * D), r * D);
      }
      if (model.recipe.lmHeadScale !== 1) {
        const scaled = scope.f32(last.shape);
        const s = model.recipe.lmHeadScale;
        const src = last.data;
        const dst = scaled.data;
        for (let i = 0; i < src.length; i++) dst[i] = src[i] * s;
        last = scaled;
      }
      return (await runLinear(model.engine, scope, last, model.lmHead)).toArray() as Float32Array;
    } finally {
      scope.dispose();
    }
  }

  reorder(order: readonly number[]): void {
    for (const c of this.caches) reorderCache(c, order);
  }

  dispose(): void {
    for (const c of this.caches) disposeCache(c);
    for (const t of this.crossKV) t.dispose();
    this.sourceMask.dispose();
  }
}
