/**
 * MPNet (all-mpnet-base-v2's backbone): BERT-like post-LN layers with a relative position bias shared by every
 * layer, and RoBERTa's position ids with padding_idx fixed to 1 in transformers' code (not read from the config).
 */
import { relativePositionBias } from '@attnflow/embedding';
import { Activation } from '@attnflow/kernels';
import { activationFromName, loadLinear, loadNorm } from '@attnflow/layers';
import { blockLayers, encoderBasics, encoderRecipe, loadBlock, loadClassifier, loadEmbeddings, loadTokenHead, taskClasses, tiedDecoder, type EncoderArchitecture, type EncoderHeads } from './encoder.js';

const PADDING_IDX = 1;
/**
 * transformers calls the bucket function with its defaults whatever relative_attention_num_buckets says (that only
 * sizes the table): T5's bidirectional buckets over 32 buckets up to distance 128, keys after the query in 16..31.
 */
const BUCKETS = { bidirectional: true, numBuckets: 32, maxDistance: 128 };

const LAYER = { q: 'attention.attn.q', k: 'attention.attn.k', v: 'attention.attn.v', o: 'attention.attn.o', attnNorm: 'attention.LayerNorm', up: 'intermediate.dense', down: 'output.dense', ffnNorm: 'output.LayerNorm' };

export const MPNET: EncoderArchitecture = {
  modelTypes: ['mpnet'],
  classes: taskClasses('MPNet'),
  load: (cfg, head, root, arena) => {
    const basics = encoderBasics(cfg, cfg.architecture ?? 'MPNetModel', head);
    const H = basics.hiddenSize;
    const eps = cfg.num('layer_norm_eps', 1e-12);
    const positionRows = cfg.int('max_position_embeddings', 514);
    const numBuckets = cfg.int('relative_attention_num_buckets', 32);
    const recipe = encoderRecipe(basics, { maxPositions: positionRows - PADDING_IDX - 1, positionIds: { kind: 'after-padding', paddingIdx: PADDING_IDX }, activation: activationFromName(cfg.str('hidden_act', 'gelu')) });
    const base = root.has('mpnet.embeddings.word_embeddings.weight') ? root.scope('mpnet') : root;
    const embeddings = loadEmbeddings(base.scope('embeddings'), { vocab: basics.vocabSize, width: H, positionRows, typeVocab: 0, eps });
    const layers = Array.from({ length: basics.numLayers }, (_, i) => loadBlock(base.scope('encoder.layer', i), LAYER, H, basics.intermediateSize, eps));
    // (numBuckets, numHeads); rows past 31 are never read
    const table = base.scope('encoder.relative_attention_bias').get('weight', [numBuckets, basics.numHeads]);
    const bias = (length: number) => relativePositionBias(table, 0, length, length, BUCKETS, arena);
    const heads: EncoderHeads = { tokens: loadTokenHead(root, head, H, basics.numLabels) };
    if (base.has('pooler.dense.weight')) heads.pooler = loadLinear(base.scope('pooler.dense'), H, H);
    if (head === 'sequence-classification') heads.sequence = loadClassifier(root.scope('classifier'), { dense: 'dense', out: 'out_proj' }, H, basics.numLabels, Activation.tanh);
    else if (head === 'masked-lm') {
      const p = root.scope('lm_head');
      heads.mlm = { dense: loadLinear(p.scope('dense'), H, H), activation: Activation.gelu, norm: loadNorm(p.scope('layer_norm'), H, eps), decoder: tiedDecoder(embeddings.word, p.get('bias', [basics.vocabSize])) };
      root.ignore(/^lm_head\.decoder\.(weight|bias)$/);
    }
    return { recipe, weights: { embeddings, layers: blockLayers(layers, recipe.block, bias), blocks: layers, heads } };
  },
};
