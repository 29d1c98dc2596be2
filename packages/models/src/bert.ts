/**
 * BERT and RoBERTa / XLM-RoBERTa: the same post-LN layers under `bert.` / `roberta.`. RoBERTa numbers positions
 * from padding_idx and puts its own heads on top (classifier.dense → tanh → out_proj; lm_head with exact GELU).
 */
import type { Weights } from '@attnflow/checkpoint';
import { Activation } from '@attnflow/kernels';
import { activationFromName, loadLinear, loadNorm } from '@attnflow/layers';
import type { ConfigReader } from './config.js';
import {
  BERT_LAYER, blockLayers, encoderBasics, encoderRecipe, loadBlock, loadClassifier, loadEmbeddings, loadTokenHead, taskClasses, tiedDecoder,
  type EncoderArchitecture, type EncoderHead, type EncoderHeads, type EncoderRecipe, type EncoderWeights,
} from './encoder.js';

function load(cfg: ConfigReader, head: EncoderHead, root: Weights, prefix: 'bert' | 'roberta'): { recipe: EncoderRecipe; weights: EncoderWeights } {
  const basics = encoderBasics(cfg, cfg.architecture ?? (prefix === 'bert' ? 'BertModel' : 'RobertaModel'), head);
  const H = basics.hiddenSize;
  const positionRows = cfg.int('max_position_embeddings', 512);
  const paddingIdx = cfg.int('pad_token_id', 1, 0);
  const activation = activationFromName(cfg.str('hidden_act', 'gelu'));
  const eps = cfg.num('layer_norm_eps', 1e-12);
  const recipe = encoderRecipe(basics, prefix === 'roberta'
    // the table's first padding_idx + 1 rows are never a real position
    ? { maxPositions: positionRows - paddingIdx - 1, positionIds: { kind: 'after-padding', paddingIdx }, activation }
    : { maxPositions: positionRows, positionIds: { kind: 'range' }, activation });
  // The base model sits at the top level (BertModel checkpoints) or under the model type (task checkpoints).
  const base = root.has(`${prefix}.embeddings.word_embeddings.weight`) ? root.scope(prefix) : root;
  const embeddings = loadEmbeddings(base.scope('embeddings'), { vocab: basics.vocabSize, width: H, positionRows, typeVocab: cfg.int('type_vocab_size', 2, 0), eps });
  const layers = Array.from({ length: basics.numLayers }, (_, i) => loadBlock(base.scope('encoder.layer', i), BERT_LAYER, H, basics.intermediateSize, eps));
  const heads: EncoderHeads = { tokens: loadTokenHead(root, head, H, basics.numLabels) };
  if (base.has('pooler.dense.weight')) heads.pooler = loadLinear(base.scope('pooler.dense'), H, H);
  if (head === 'sequence-classification') {
    heads.sequence = prefix === 'roberta'
      ? loadClassifier(root.scope('classifier'), { dense: 'dense', out: 'out_proj' }, H, basics.numLabels, Activation.tanh)
      // BERT classifies the pooler's output
      : { dense: heads.pooler ?? loadLinear(base.scope('pooler.dense'), H, H), activation: Activation.tanh, out: loadLinear(root.scope('classifier'), H, basics.numLabels) };
  } else if (head === 'masked-lm') {
    const p = root.scope(prefix === 'bert' ? 'cls.predictions' : 'lm_head');
    heads.mlm = {
      dense: loadLinear(p.scope(prefix === 'bert' ? 'transform.dense' : 'dense'), H, H),
      // RoBERTa's lm_head applies exact GELU whatever hidden_act says
      activation: prefix === 'bert' ? activation : Activation.gelu,
      norm: loadNorm(p.scope(prefix === 'bert' ? 'transform.LayerNorm' : 'layer_norm'), H, eps),
      decoder: tiedDecoder(embeddings.word, p.get('bias', [basics.vocabSize])),
    };
    root.ignore(/^(cls\.predictions\.decoder\.(weight|bias)|lm_head\.decoder\.(weight|bias))$/);
  }
  root.ignore(/^cls\.seq_relationship\./); // BertForPreTraining's next-sentence head, unused by these tasks
  return { recipe, weights: { embeddings, layers: blockLayers(layers, recipe.block), blocks: layers, heads } };
}

export const BERT: EncoderArchitecture = {
  modelTypes: ['bert'],
  classes: taskClasses('Bert'),
  load: (cfg, head, root) => load(cfg, head, root, 'bert'),
};

export const ROBERTA: EncoderArchitecture = {
  modelTypes: ['roberta', 'xlm-roberta'],
  classes: { ...taskClasses('Roberta'), ...taskClasses('XLMRoberta') },
  load: (cfg, head, root) => load(cfg, head, root, 'roberta'),
};
