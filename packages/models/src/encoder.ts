/**
 * The parts every encoder-only architecture is made of, and the contract an architecture file fulfils: resolve
 * config.json into an EncoderRecipe, fill EncoderWeights from the checkpoint. The forward pass over them is
 * written once, in encoderModel.ts; bert.ts, distilbert.ts, electra.ts, albert.ts, mpnet.ts and deberta.ts only
 * say what differs.
 */
import type { Weights } from '@attnflow/checkpoint';
import type { EmbeddingRecipe, EmbeddingWeights } from '@attnflow/embedding';
import { encoderStack, type StackOptions, type StackOutputs } from '@attnflow/encoder';
import { Activation, type Engine } from '@attnflow/kernels';
import { fuseLinears, loadLinear, loadNorm, type BlockRecipe, type BlockWeights, type Linear, type Norm } from '@attnflow/layers';
import type { SharedArena, Scope, Tensor } from '@attnflow/tensor';
import type { ConfigReader } from './config.js';

export type EncoderHead = 'none' | 'sequence-classification' | 'token-classification' | 'question-answering' | 'masked-lm';

/** How a batch's position ids are made. */
export type PositionIds =
  /** 0..L-1 in every row (BERT, DistilBERT, ELECTRA, ALBERT). */
  | { kind: 'range' }
  /** From the ids (RoBERTa, XLM-R, MPNet): real tokens paddingIdx+1, +2, …; padding reads row paddingIdx. */
  | { kind: 'after-padding'; paddingIdx: number }
  /** No absolute positions (DeBERTa-v2 with position_biased_input false). */
  | { kind: 'none' };

/** What the shared forward pass needs, resolved once from config.json. */
export interface EncoderRecipe {
  modelType: string;
  architecture: string;
  head: EncoderHead;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  /** Longest input the position table allows (what tokenizers truncate to). */
  maxPositions: number;
  /** Embeddings live in embedding.hiddenSize (ELECTRA's and ALBERT's embedding_size), projected to hiddenSize. */
  embedding: EmbeddingRecipe;
  positionIds: PositionIds;
  block: BlockRecipe;
  numLabels: number;
  id2label?: Record<string, string>;
}

/** dense → activation (→ norm: ModernBERT's prediction head) → out on some rows of the last hidden state. */
export interface ClassifierHead {
  dense?: Linear;
  activation: Activation;
  norm?: Norm;
  out: Linear;
}

/** A sequence classifier and the row it reads: h[CLS], or the mean of the real tokens (ModernBERT's classifier_pooling). */
export interface SequenceHead extends ClassifierHead {
  pooling?: 'cls' | 'mean';
}

/** dense → activation → norm → decoder (mostly tied to the word embeddings, with its own bias). */
export interface MaskedLmHead {
  dense: Linear;
  activation: Activation;
  norm: Norm;
  decoder: Linear;
}

export interface EncoderHeads {
  /** tanh(dense(h[CLS])): BertModel's pooler_output. */
  pooler?: Linear;
  /** On h[CLS] (or the mean over real tokens, as `pooling` says): sequence classification. */
  sequence?: SequenceHead;
  /** On every token: token classification, question answering (2 outputs), ELECTRA's discriminator. */
  tokens?: ClassifierHead;
  mlm?: MaskedLmHead;
}

export interface LayerInputs {
  batch: number;
  length: number;
  /** (batch, length) 1 = real token. */
  mask: Int32Array;
  keyMask: Tensor<'int32'>;
}

/** The encoder's layers over the embedded batch: x (batch*length, hidden) -> (batch*length, hidden). */
export type EncoderLayers = (engine: Engine, scope: Scope, x: Tensor<'float32'>, inputs: LayerInputs, options: StackOptions) => Promise<StackOutputs>;

export interface EncoderWeights {
  embeddings: EmbeddingWeights;
  /** embedding size → hidden size (ELECTRA's embeddings_project, ALBERT's embedding_hidden_mapping_in). */
  projection?: Linear;
  /** A LayerNorm after the projection, in hidden size: DeBERTa-v2 projects (embed_proj) before its LayerNorm. */
  projectionNorm?: Norm;
  /** DeBERTa multiplies the normed embeddings by the attention mask (padded rows become 0). */
  maskEmbeddings?: boolean;
  layers: EncoderLayers;
  /** The blocks `layers` runs, when they are the shared post-LN block (inspection tools read them). */
  blocks?: BlockWeights[];
  heads: EncoderHeads;
}

/** An encoder-only architecture: the classes and model types it answers to, and how it loads. */
export interface EncoderArchitecture {
  modelTypes: readonly string[];
  /** Hugging Face class name → the head it carries. */
  classes: Readonly<Record<string, EncoderHead>>;
  load(cfg: ConfigReader, head: EncoderHead, root: Weights, arena: SharedArena): { recipe: EncoderRecipe; weights: EncoderWeights };
}

const TASK_SUFFIXES: Record<string, EncoderHead> = {
  Model: 'none', ForSequenceClassification: 'sequence-classification', ForTokenClassification: 'token-classification',
  ForQuestionAnswering: 'question-answering', ForMaskedLM: 'masked-lm',
};

/** `<prefix>Model`, `<prefix>ForSequenceClassification`, … → their heads: the task classes transformers names alike. */
export function taskClasses(prefix: string): Record<string, EncoderHead> {
  const out: Record<string, EncoderHead> = {};
  for (const [suffix, head] of Object.entries(TASK_SUFFIXES)) out[prefix + suffix] = head;
  return out;
}

/** Fields every BERT-like config.json spells the same way. */
export function encoderBasics(cfg: ConfigReader, architecture: string, head: EncoderHead) {
  const hiddenSize = cfg.int(['hidden_size', 'dim']);
  const numHeads = cfg.int(['num_attention_heads', 'n_heads']);
  const id2label = cfg.labels();
  return {
    modelType: cfg.str('model_type'),
    architecture,
    head,
    vocabSize: cfg.int('vocab_size'),
    hiddenSize,
    numLayers: cfg.int(['num_hidden_layers', 'n_layers']),
    numHeads,
    headDim: cfg.divisible('hidden_size', hiddenSize, 'num_attention_heads', numHeads),
    intermediateSize: cfg.int(['intermediate_size', 'hidden_dim']),
    numLabels: id2label ? Object.keys(id2label).length : cfg.int('num_labels', 2),
    id2label,
  };
}

/** Post-LN block recipe with the paper's 1/√d scale. */
export function postLnBlock(numHeads: number, headDim: number, activation: Activation): BlockRecipe {
  return { attention: { numHeads, headDim, scale: 1 / Math.sqrt(headDim) }, placement: 'post', activation };
}

/**
 * The recipe of a post-LN encoder with BERT-style embeddings of `embeddingSize` (hidden size unless factorized):
 * learned absolute positions unless positionIds is 'none'.
 */
export function encoderRecipe(
  basics: ReturnType<typeof encoderBasics>,
  options: { embeddingSize?: number; maxPositions: number; positionIds: PositionIds; activation: Activation },
): EncoderRecipe {
  return Object.freeze({
    ...basics,
    maxPositions: options.maxPositions,
    embedding: {
      vocabSize: basics.vocabSize, hiddenSize: options.embeddingSize ?? basics.hiddenSize, scale: 1,
      position: options.positionIds.kind === 'none' ? { kind: 'none' as const } : { kind: 'learned' as const, offset: 0 },
    },
    positionIds: options.positionIds,
    block: postLnBlock(basics.numHeads, basics.headDim, options.activation),
  });
}

/**
 * BERT-style embeddings under `e`: word_embeddings (vocab, width), position_embeddings (positionRows, width) when
 * positionRows > 0, token_type_embeddings when typeVocab > 0, LayerNorm over width unless norm is false (the caller
 * puts it after a projection).
 */
export function loadEmbeddings(e: Weights, sizes: { vocab: number; width: number; positionRows: number; typeVocab: number; eps: number; norm?: boolean }): EmbeddingWeights {
  e.ignore(/(^|\.)embeddings\.position_ids$/); // a buffer some checkpoints save
  const { vocab, width, positionRows, typeVocab, eps, norm = true } = sizes;
  return {
    word: e.scope('word_embeddings').get('weight', [vocab, width]),
    position: positionRows ? e.scope('position_embeddings').get('weight', [positionRows, width]) : undefined,
    tokenType: typeVocab ? e.scope('token_type_embeddings').get('weight', [typeVocab, width]) : undefined,
    norm: norm ? loadNorm(e.scope('LayerNorm'), width, eps) : undefined,
  };
}

/** Where a post-LN block's weights sit under its layer scope. */
export interface LayerNames {
  q: string; k: string; v: string; o: string; attnNorm: string; up: string; down: string; ffnNorm: string;
}

export const BERT_LAYER: LayerNames = {
  q: 'attention.self.query', k: 'attention.self.key', v: 'attention.self.value', o: 'attention.output.dense',
  attnNorm: 'attention.output.LayerNorm', up: 'intermediate.dense', down: 'output.dense', ffnNorm: 'output.LayerNorm',
};

/** One post-LN block: q/k/v fused (hidden → 3·hidden), out, FFN hidden → intermediate → hidden, two LayerNorms. */
export function loadBlock(l: Weights, n: LayerNames, hidden: number, intermediate: number, eps: number): BlockWeights {
  return {
    selfAttention: { qkv: fuseLinears([n.q, n.k, n.v].map((name) => loadLinear(l.scope(name), hidden, hidden))), out: loadLinear(l.scope(n.o), hidden, hidden) },
    selfAttentionNorm: loadNorm(l.scope(n.attnNorm), hidden, eps),
    feedForward: { up: loadLinear(l.scope(n.up), hidden, intermediate), down: loadLinear(l.scope(n.down), intermediate, hidden) },
    feedForwardNorm: loadNorm(l.scope(n.ffnNorm), hidden, eps),
  };
}

/** The shared block stack, with an optional relative bias (numHeads, length, length) made per batch length. */
export function blockLayers(layers: BlockWeights[], recipe: BlockRecipe, bias?: (length: number) => Tensor<'float32'>): EncoderLayers {
  return async (engine, scope, x, inputs, options) => {
    const positionBias = bias?.(inputs.length);
    try {
      return await encoderStack(engine, scope, x, layers, recipe, { batch: inputs.batch, length: inputs.length, keyMask: inputs.keyMask, positionBias }, undefined, options);
    } finally {
      positionBias?.dispose();
    }
  };
}

/** `dense` (optional) then `out` under the given scopes; sizes hidden → hidden → outputs. */
export function loadClassifier(w: Weights, names: { dense?: string; out: string }, hidden: number, outputs: number, activation: Activation): ClassifierHead {
  return { dense: names.dense === undefined ? undefined : loadLinear(w.scope(names.dense), hidden, hidden), activation, out: loadLinear(w.scope(names.out), hidden, outputs) };
}

/**
 * The token-level heads every family names alike: `classifier` on every token, `qa_outputs` (start|end). Returns
 * undefined for the other heads.
 */
export function loadTokenHead(root: Weights, head: EncoderHead, hidden: number, numLabels: number): ClassifierHead | undefined {
  if (head === 'token-classification') return loadClassifier(root, { out: 'classifier' }, hidden, numLabels, Activation.none);
  if (head === 'question-answering') return loadClassifier(root, { out: 'qa_outputs' }, hidden, 2, Activation.none);
  return undefined;
}

/**
 * An MLM decoder reading a (vocab, E) table as it is stored, with the head's own bias if it has one: the word
 * embeddings when tied (a stored copy is ignored), else the head's untied decoder weight.
 */
export function tiedDecoder(word: Tensor<'float32'>, bias: Tensor<'float32'> | undefined): Linear {
  return { weight: word, bias, inFeatures: word.shape[1], outFeatures: word.shape[0] };
}
