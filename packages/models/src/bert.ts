/**
 * BERT and its encoder-only relatives (RoBERTa, DistilBERT, MiniLM / sentence-transformers), with the heads of
 * the Hugging Face task classes. config.json → recipe → weights → forward, in that order.
 */
import { Checkpoint, Weights } from '@attnflow/checkpoint';
import { embed, maskedPositions, rangePositions, type EmbeddingRecipe, type EmbeddingWeights } from '@attnflow/embedding';
import { encoderStack } from '@attnflow/encoder';
import { Activation, sharedEngine, type Engine } from '@attnflow/kernels';
import { activationFromName, fuseLinears, loadLinear, loadNorm, runLinear, runNorm, type BlockRecipe, type BlockWeights, type Linear, type Norm } from '@attnflow/layers';
import { Scope, type Tensor } from '@attnflow/tensor';
import { ConfigError, ConfigReader } from './config.js';

export type BertHead = 'none' | 'sequence-classification' | 'token-classification' | 'question-answering' | 'masked-lm';

const ARCHITECTURES: Record<string, BertHead> = {
  BertModel: 'none', BertForSequenceClassification: 'sequence-classification', BertForTokenClassification: 'token-classification',
  BertForQuestionAnswering: 'question-answering', BertForMaskedLM: 'masked-lm',
  RobertaModel: 'none', RobertaForSequenceClassification: 'sequence-classification', RobertaForTokenClassification: 'token-classification',
  RobertaForQuestionAnswering: 'question-answering', RobertaForMaskedLM: 'masked-lm', XLMRobertaModel: 'none', XLMRobertaForSequenceClassification: 'sequence-classification', XLMRobertaForTokenClassification: 'token-classification',
  XLMRobertaForQuestionAnswering: 'question-answering', XLMRobertaForMaskedLM: 'masked-lm',
  DistilBertModel: 'none', DistilBertForSequenceClassification: 'sequence-classification', DistilBertForTokenClassification: 'token-classification',
  DistilBertForQuestionAnswering: 'question-answering', DistilBertForMaskedLM: 'masked-lm',
};
export const BERT_ARCHITECTURES = Object.keys(ARCHITECTURES);

/** Everything the forward pass needs, resolved once from config.json. */
export interface BertRecipe {
  family: 'bert' | 'roberta' | 'distilbert';
  head: BertHead;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  activation: Activation;
  layerNormEps: number;
  maxPositions: number;
  typeVocabSize: number;
  /** RoBERTa numbers positions from padding_idx + 1. */
  positionOffset: number;
  numLabels: number;
  id2label?: Record<string, string>;
}

export function bertRecipe(cfg: ConfigReader): BertRecipe {
  const arch = cfg.architecture ?? 'BertModel';
  const head = ARCHITECTURES[arch];
  if (head === undefined) throw new ConfigError(`${cfg.file}: architecture "${arch}" is not a BERT-family model (supported: ${BERT_ARCHITECTURES.join(', ')})`);
  const modelType = cfg.str('model_type', 'bert');
  const family = modelType === 'distilbert' ? 'distilbert' : modelType === 'roberta' || modelType === 'xlm-roberta' ? 'roberta' : 'bert';
  const hiddenSize = cfg.int(['hidden_size', 'dim']);
  const numHeads = cfg.int(['num_attention_heads', 'n_heads']);
  const id2label = cfg.labels();
  return Object.freeze({
    family,
    head,
    vocabSize: cfg.int('vocab_size'),
    hiddenSize,
    numLayers: cfg.int(['num_hidden_layers', 'n_layers']),
    numHeads,
    headDim: cfg.divisible('hidden_size', hiddenSize, 'num_attention_heads', numHeads),
    intermediateSize: cfg.int(['intermediate_size', 'hidden_dim']),
    activation: activationFromName(cfg.str(['hidden_act', 'activation'], 'gelu')),
    layerNormEps: cfg.num('layer_norm_eps', 1e-12),
    maxPositions: cfg.int('max_position_embeddings', 512),
    typeVocabSize: family === 'distilbert' ? 0 : cfg.int('type_vocab_size', 2, 0),
    positionOffset: family === 'roberta' ? cfg.int('pad_token_id', 1, 0) + 1 : 0,
    numLabels: id2label ? Object.keys(id2label).length : cfg.int('num_labels', 2),
    id2label,
  });
}

interface BertHeads {
  pooler?: Linear;
  /** DistilBERT's extra layer before its classifier. */
  preClassifier?: Linear;
  classifier?: Linear;
  mlm?: { transform: Linear; norm: Norm; decoder: Tensor<'float32'>; bias: Tensor<'float32'> };
}

export interface EncoderInputs {
  batch: number;
  length: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds?: Int32Array;
}

export interface ForwardOptions {
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

/** Plain arrays, row-major; `logits` is (batch, numLabels), (batch, length, numLabels|vocab) or (batch, length, 2). */
export interface EncoderResult {
  batch: number;
  length: number;
  hiddenSize: number;
  lastHiddenState: Float32Array;
  hiddenStates?: Float32Array[];
  attentions?: Float32Array[];
  pooled?: Float32Array;
  logits?: Float32Array;
}

/** The checkpoint's key names for each family; the code below reads the same structure for all three. */
const NAMES = {
  bert: { emb: 'embeddings', words: 'word_embeddings', positions: 'position_embeddings', types: 'token_type_embeddings', embNorm: 'LayerNorm', layers: 'encoder.layer', q: 'attention.self.query', k: 'attention.self.key', v: 'attention.self.value', o: 'attention.output.dense', attnNorm: 'attention.output.LayerNorm', up: 'intermediate.dense', down: 'output.dense', ffnNorm: 'output.LayerNorm' },
  distilbert: { emb: 'embeddings', words: 'word_embeddings', positions: 'position_embeddings', types: '', embNorm: 'LayerNorm', layers: 'transformer.layer', q: 'attention.q_lin', k: 'attention.k_lin', v: 'attention.v_lin', o: 'attention.out_lin', attnNorm: 'sa_layer_norm', up: 'ffn.lin1', down: 'ffn.lin2', ffnNorm: 'output_layer_norm' },
};

export class BertModel {
  readonly blockRecipe: BlockRecipe;
  readonly embeddingRecipe: EmbeddingRecipe;

  private constructor(
    readonly recipe: BertRecipe,
    readonly embeddings: EmbeddingWeights,
    readonly layers: BlockWeights[],
    readonly heads: BertHeads,
    readonly engine: Engine,
    private readonly owned: Tensor[],
  ) {
    this.blockRecipe = { attention: { numHeads: recipe.numHeads, headDim: recipe.headDim, scale: 1 / Math.sqrt(recipe.headDim) }, placement: 'post', activation: recipe.activation };
    this.embeddingRecipe = { vocabSize: recipe.vocabSize, hiddenSize: recipe.hiddenSize, scale: 1, position: { kind: 'learned', offset: recipe.positionOffset } };
  }

  static load(dir: string, engine: Engine = sharedEngine(), cfg: ConfigReader = ConfigReader.read(dir)): BertModel {
    const r = bertRecipe(cfg);
    const ckpt = Checkpoint.open(dir, engine.arena);
    const root = Weights.from(ckpt);
    const n = NAMES[r.family === 'distilbert' ? 'distilbert' : 'bert'];
    // The base model sits at the top level (BertModel checkpoints) or under the model type (task checkpoints).
    const prefix = r.family === 'bert' ? 'bert' : r.family;
    const base = ckpt.has(`${prefix}.${n.emb}.${n.words}.weight`) ? root.scope(prefix) : root;
    const H = r.hiddenSize;
    const e = base.scope(n.emb);
    const embeddings: EmbeddingWeights = {
      word: e.scope(n.words).get('weight', [r.vocabSize, H]),
      position: e.scope(n.positions).get('weight', [r.maxPositions, H]),
      tokenType: n.types && r.typeVocabSize ? e.scope(n.types).get('weight', [r.typeVocabSize, H]) : undefined,
      norm: loadNorm(e.scope(n.embNorm), H, r.layerNormEps),
    };
    e.ignore(/(^|\.)embeddings\.position_ids$/);
    const layers = Array.from({ length: r.numLayers }, (_, i): BlockWeights => {
      const l = base.scope(n.layers, i);
      return {
        selfAttention: { qkv: fuseLinears([n.q, n.k, n.v].map((name) => loadLinear(l.scope(name), H, H))), out: loadLinear(l.scope(n.o), H, H) },
        selfAttentionNorm: loadNorm(l.scope(n.attnNorm), H, r.layerNormEps),
        feedForward: { up: loadLinear(l.scope(n.up), H, r.intermediateSize), down: loadLinear(l.scope(n.down), r.intermediateSize, H) },
        feedForwardNorm: loadNorm(l.scope(n.ffnNorm), H, r.layerNormEps),
      };
    });
    const heads: BertHeads = {};
    if (base.has('pooler.dense.weight')) heads.pooler = loadLinear(base.scope('pooler.dense'), H, H);
    if (r.head === 'sequence-classification') {
      if (r.family === 'distilbert') heads.preClassifier = loadLinear(root.scope('pre_classifier'), H, H);
      heads.classifier = r.family === 'roberta'
        ? loadLinear(root.scope('classifier.out_proj'), H, r.numLabels)
        : loadLinear(root.scope('classifier'), H, r.numLabels);
      if (r.family === 'roberta') heads.preClassifier = loadLinear(root.scope('classifier.dense'), H, H);
    } else if (r.head === 'token-classification') {
      heads.classifier = loadLinear(root.scope('classifier'), H, r.numLabels);
    } else if (r.head === 'question-answering') {
      heads.classifier = loadLinear(root.scope('qa_outputs'), H, 2);
    } else if (r.head === 'masked-lm') {
      const p = root.scope(r.family === 'bert' ? 'cls.predictions' : r.family === 'roberta' ? 'lm_head' : '');
      heads.mlm = r.family === 'distilbert'
        ? { transform: loadLinear(root.scope('vocab_transform'), H, H), norm: loadNorm(root.scope('vocab_layer_norm'), H, r.layerNormEps), decoder: embeddings.word, bias: root.scope('vocab_projector').get('bias', [r.vocabSize]) }
        : {
            transform: loadLinear(p.scope(r.family === 'bert' ? 'transform.dense' : 'dense'), H, H),
            norm: loadNorm(p.scope(r.family === 'bert' ? 'transform.LayerNorm' : 'layer_norm'), H, r.layerNormEps),
            decoder: embeddings.word, // tied; a stored copy is checked and dropped
            bias: p.get('bias', [r.vocabSize]),
          };
      root.ignore(/^(cls\.predictions\.decoder\.(weight|bias)|lm_head\.decoder\.(weight|bias)|vocab_projector\.weight)$/);
    }
    root.ignore(/^cls\.seq_relationship\./); // BertForPreTraining's next-sentence head, unused by these tasks
    const owned = root.finish();
    return new BertModel(r, embeddings, layers, heads, engine, owned);
  }

  /** One padded batch through embeddings, encoder and head. */
  async forward(inputs: EncoderInputs, options: ForwardOptions = {}): Promise<EncoderResult> {
    const r = this.recipe;
    const { batch, length } = inputs;
    const H = r.hiddenSize;
    const scope = new Scope(this.engine.arena);
    try {
      const positions = r.family === 'roberta' ? robertaPositions(inputs.attentionMask, batch, length) : rangePositions(batch, length);
      const x = await embed(this.engine, scope, this.embeddings, this.embeddingRecipe, inputs.inputIds, positions, inputs.tokenTypeIds);
      const keyMask = scope.i32(inputs.attentionMask, [batch, length]);
      const out = await encoderStack(this.engine, scope, x, this.layers, this.blockRecipe, { batch, length, keyMask }, undefined, options);
      const result: EncoderResult = {
        batch, length, hiddenSize: H,
        lastHiddenState: out.hidden.toArray() as Float32Array,
        hiddenStates: out.hiddenStates?.map((t) => t.toArray() as Float32Array),
        attentions: out.attentions?.map((t) => t.toArray() as Float32Array),
      };
      const cls = scope.f32([batch, H]);
      for (let b = 0; b < batch; b++) cls.data.set(out.hidden.data.subarray(b * length * H, b * length * H + H), b * H);
      const heads = this.heads;
      if (heads.pooler) result.pooled = (await runLinear(this.engine, scope, cls, heads.pooler, { activation: Activation.tanh })).toArray() as Float32Array;
      if (r.head === 'sequence-classification') {
        let features: Tensor<'float32'>;
        if (r.family === 'distilbert') features = await runLinear(this.engine, scope, cls, heads.preClassifier!, { activation: Activation.relu });
        else if (r.family === 'roberta') features = await runLinear(this.engine, scope, cls, heads.preClassifier!, { activation: Activation.tanh });
        else {
          if (!heads.pooler) throw new ConfigError('BertForSequenceClassification needs the pooler (bert.pooler.dense) weights');
          features = scope.f32([batch, H]);
          features.data.set(result.pooled!);
        }
        result.logits = (await runLinear(this.engine, scope, features, heads.classifier!)).toArray() as Float32Array;
      } else if (heads.classifier) {
        result.logits = (await runLinear(this.engine, scope, out.hidden, heads.classifier)).toArray() as Float32Array;
      } else if (heads.mlm) {
        const m = heads.mlm;
        const t = await runLinear(this.engine, scope, out.hidden, m.transform, { activation: r.activation });
        await runNorm(this.engine, scope, t, m.norm, undefined, t);
        const decoder: Linear = { weight: m.decoder, bias: m.bias, inFeatures: H, outFeatures: r.vocabSize };
        result.logits = (await runLinear(this.engine, scope, t, decoder)).toArray() as Float32Array;
      }
      return result;
    } finally {
      scope.dispose();
    }
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
  }
}

/**
 * RoBERTa numbers real tokens padding_idx + 1 + their index among real tokens and gives padding padding_idx;
 * embed adds positionOffset (= padding_idx + 1), so these are the masked positions with padding at -1.
 */
function robertaPositions(mask: Int32Array, batch: number, length: number): Int32Array {
  const out = maskedPositions(mask, batch, length);
  for (let i = 0; i < out.length; i++) if (!mask[i]) out[i] = -1;
  return out;
}
