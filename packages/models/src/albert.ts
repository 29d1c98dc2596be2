/**
 * ALBERT: factorized embeddings (embedding_size, then embedding_hidden_mapping_in to hidden_size) and layers
 * shared across depth: num_hidden_groups groups of inner_group_num layers, layer i running group
 * floor(i / (num_hidden_layers / num_hidden_groups)).
 */
import { Activation } from '@attnflow/kernels';
import { activationFromName, loadLinear, loadNorm, type BlockWeights } from '@attnflow/layers';
import { ConfigError } from './config.js';
import { blockLayers, encoderBasics, encoderRecipe, loadBlock, loadEmbeddings, loadTokenHead, taskClasses, tiedDecoder, type EncoderArchitecture, type EncoderHeads } from './encoder.js';

const LAYER = { q: 'attention.query', k: 'attention.key', v: 'attention.value', o: 'attention.dense', attnNorm: 'attention.LayerNorm', up: 'ffn', down: 'ffn_output', ffnNorm: 'full_layer_layer_norm' };

export const ALBERT: EncoderArchitecture = {
  modelTypes: ['albert'],
  classes: taskClasses('Albert'),
  load: (cfg, head, root) => {
    const basics = encoderBasics(cfg, cfg.architecture ?? 'AlbertModel', head);
    const H = basics.hiddenSize;
    const E = cfg.int('embedding_size', 128);
    const eps = cfg.num('layer_norm_eps', 1e-12);
    const activation = activationFromName(cfg.str('hidden_act', 'gelu_new'));
    const maxPositions = cfg.int('max_position_embeddings', 512);
    const groups = cfg.int('num_hidden_groups', 1);
    const inner = cfg.int('inner_group_num', 1);
    if (basics.numLayers % groups !== 0) throw new ConfigError(`${cfg.file}: num_hidden_layers (${basics.numLayers}) is not divisible by num_hidden_groups (${groups})`);
    const recipe = encoderRecipe(basics, { embeddingSize: E, maxPositions, positionIds: { kind: 'range' }, activation });
    const base = root.scope('albert');
    const embeddings = loadEmbeddings(base.scope('embeddings'), { vocab: basics.vocabSize, width: E, positionRows: maxPositions, typeVocab: cfg.int('type_vocab_size', 2, 0), eps });
    const enc = base.scope('encoder');
    const projection = loadLinear(enc.scope('embedding_hidden_mapping_in'), E, H);
    const shared = Array.from({ length: groups }, (_, g) =>
      Array.from({ length: inner }, (_, k) => loadBlock(enc.scope('albert_layer_groups', g, 'albert_layers', k), LAYER, H, basics.intermediateSize, eps)));
    // The same weights run again and again: the schedule is a list of references, not copies.
    const layers: BlockWeights[] = Array.from({ length: basics.numLayers }, (_, i) => shared[Math.floor(i / (basics.numLayers / groups))]).flat();
    const heads: EncoderHeads = { tokens: loadTokenHead(root, head, H, basics.numLabels) };
    if (base.has('pooler.weight')) heads.pooler = loadLinear(base.scope('pooler'), H, H);
    if (head === 'sequence-classification') heads.sequence = { dense: heads.pooler ?? loadLinear(base.scope('pooler'), H, H), activation: Activation.tanh, out: loadLinear(root.scope('classifier'), H, basics.numLabels) };
    else if (head === 'masked-lm') {
      const p = root.scope('predictions');
      heads.mlm = { dense: loadLinear(p.scope('dense'), H, E), activation, norm: loadNorm(p.scope('LayerNorm'), E, eps), decoder: tiedDecoder(embeddings.word, p.get('bias', [basics.vocabSize])) };
      root.ignore(/^predictions\.decoder\.(weight|bias)$/);
    }
    root.ignore(/^sop_classifier\./); // AlbertForPreTraining's sentence-order head
    return { recipe, weights: { embeddings, projection, layers: blockLayers(layers, recipe.block), blocks: layers, heads } };
  },
};
