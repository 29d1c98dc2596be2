/**
 * GPT-2 (GPT2LMHeadModel): token + learned position embeddings, pre-LN blocks of causal self-attention and a
 * GELU-tanh MLP, a final LayerNorm and an LM head tied to the token embeddings. Conv1D weights are stored
 * (in, out) and transposed once at load.
 */
import { Checkpoint, Weights } from '@attnflow/checkpoint';
import { weightsOptions, type LoadOptions } from './dtype.js';
import { loadOwned } from './owned.js';
import { decoderStack, type GenerationConfig } from '@attnflow/decoder';
import { embed, type EmbeddingRecipe, type EmbeddingWeights } from '@attnflow/embedding';
import { sharedEngine, type Activation, type Engine } from '@attnflow/kernels';
import { activationFromName, createCache, loadLinear, loadNorm, runLinear, tiedHead, type BlockRecipe, type BlockWeights, type Linear, type Norm } from '@attnflow/layers';
import { Scope, type Tensor } from '@attnflow/tensor';
import { CachedSession, CausalModel, lastPositions } from './causal.js';
import { ConfigError, ConfigReader } from './config.js';
import { readGenerationConfig } from './generation.js';

export interface Gpt2Recipe {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  innerSize: number;
  maxPositions: number;
  activation: Activation;
  layerNormEps: number;
  eosTokenId?: number;
  bosTokenId?: number;
}

export function gpt2Recipe(cfg: ConfigReader): Gpt2Recipe {
  const arch = cfg.architecture ?? 'GPT2LMHeadModel';
  if (arch !== 'GPT2LMHeadModel' && arch !== 'GPT2Model') throw new ConfigError(`${cfg.file}: architecture "${arch}" is not GPT-2 (supported: GPT2LMHeadModel, GPT2Model)`);
  const hiddenSize = cfg.int('n_embd');
  const numHeads = cfg.int('n_head');
  return Object.freeze({
    vocabSize: cfg.int('vocab_size'),
    hiddenSize,
    numLayers: cfg.int('n_layer'),
    numHeads,
    headDim: cfg.divisible('n_embd', hiddenSize, 'n_head', numHeads),
    innerSize: cfg.int('n_inner', 4 * hiddenSize),
    maxPositions: cfg.int('n_positions', 1024),
    activation: activationFromName(cfg.str('activation_function', 'gelu_new'), 'activation_function'),
    layerNormEps: cfg.num('layer_norm_epsilon', 1e-5),
    eosTokenId: cfg.optionalInt('eos_token_id'),
    bosTokenId: cfg.optionalInt('bos_token_id'),
  });
}

export class Gpt2Model extends CausalModel<Gpt2Session> {
  readonly blockRecipe: BlockRecipe;
  readonly embeddingRecipe: EmbeddingRecipe;

  private constructor(
    readonly recipe: Gpt2Recipe,
    readonly embeddings: EmbeddingWeights,
    readonly layers: BlockWeights[],
    readonly finalNorm: Norm,
    readonly lmHead: Linear,
    readonly engine: Engine,
    readonly generationConfig: GenerationConfig,
    private readonly owned: Tensor[],
  ) {
    super();
    this.blockRecipe = { attention: { numHeads: recipe.numHeads, headDim: recipe.headDim, scale: 1 / Math.sqrt(recipe.headDim) }, placement: 'pre', activation: recipe.activation };
    this.embeddingRecipe = { vocabSize: recipe.vocabSize, hiddenSize: recipe.hiddenSize, scale: 1, position: { kind: 'learned', offset: 0 } };
  }

  static load(dir: string, engine: Engine = sharedEngine(), cfg: ConfigReader = ConfigReader.read(dir), options: LoadOptions = {}): Gpt2Model {
    return loadOwned(engine.arena, (owned) => {
      const r = gpt2Recipe(cfg);
      const ckpt = Checkpoint.open(dir, engine.arena);
      const root = Weights.from(ckpt, weightsOptions(options, 'generator'));
      const t = ckpt.has('transformer.wte.weight') ? root.scope('transformer') : root;
      const H = r.hiddenSize;
      const embeddings: EmbeddingWeights = { word: t.scope('wte').get('weight', [r.vocabSize, H]), position: t.scope('wpe').get('weight', [r.maxPositions, H]) };
      const conv = { transposed: true };
      const layers = Array.from({ length: r.numLayers }, (_, i): BlockWeights => {
        const l = t.scope('h', i);
        return {
          selfAttention: { qkv: loadLinear(l.scope('attn.c_attn'), H, 3 * H, conv), out: loadLinear(l.scope('attn.c_proj'), H, H, conv) },
          selfAttentionNorm: loadNorm(l.scope('ln_1'), H, r.layerNormEps),
          feedForward: { up: loadLinear(l.scope('mlp.c_fc'), H, r.innerSize, conv), down: loadLinear(l.scope('mlp.c_proj'), r.innerSize, H, conv) },
          feedForwardNorm: loadNorm(l.scope('ln_2'), H, r.layerNormEps),
        };
      });
      const finalNorm = loadNorm(t.scope('ln_f'), H, r.layerNormEps);
      // Causal-mask buffers of old checkpoints and a stored copy of the tied LM head carry no information.
      root.ignore(/(^|\.)attn\.(bias|masked_bias)$|^lm_head\.weight$/);
      const lmHead = tiedHead({ weight: embeddings.word, inFeatures: H, outFeatures: r.vocabSize }, root.quantize);
      root.finish();
      return new Gpt2Model(r, embeddings, layers, finalNorm, lmHead, engine, readGenerationConfig(dir, cfg), owned);
    });
  }

  protected session(rows: number, capacity: number): Gpt2Session {
    return new Gpt2Session(this, rows, capacity);
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
  }
}

class Gpt2Session extends CachedSession {
  constructor(private readonly model: Gpt2Model, rows: number, capacity: number) {
    super(rows, model.recipe.vocabSize, model.layers.map(() => createCache(rows, capacity, model.recipe.hiddenSize, model.engine.arena)));
  }

  /**
   * tokens/mask (rows, n) -> logits (rows, vocab) of the last position, or (rows, n, vocab) when allPositions.
   * When `attentions` is given, each layer's weights (rows, heads, n, keyLength) are appended to it.
   */
  async feed(tokens: Int32Array, n: number, newMask: Int32Array, allPositions: boolean, attentions?: Float32Array[]): Promise<Float32Array> {
    const { model, rows } = this;
    const positions = this.positions.advance(newMask, n);
    const scope = new Scope(model.engine.arena);
    try {
      const x = await embed(model.engine, scope, model.embeddings, model.embeddingRecipe, tokens, positions);
      const keyMask = this.positions.keyMask(scope);
      const probs = attentions && model.layers.map(() => scope.f32([rows, model.recipe.numHeads, n, this.positions.length]));
      const h = await decoderStack(model.engine, scope, x, model.layers, model.blockRecipe, { batch: rows, length: n, keyMask, caches: this.caches, attentions: probs }, model.finalNorm);
      if (probs) attentions!.push(...probs.map((t) => t.toArray() as Float32Array));
      const last = allPositions ? h : lastPositions(scope, h, rows, n, model.recipe.hiddenSize);
      return (await runLinear(model.engine, scope, last, model.lmHead)).toArray() as Float32Array;
    } finally {
      scope.dispose();
    }
  }

}
