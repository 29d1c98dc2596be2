/**
 * DistilBERT: BERT's post-LN layers under other names (q_lin…, sa_layer_norm, ffn.lin1/lin2), no token types,
 * learned positions (sinusoidal_pos_embds only initialises the stored table), every LayerNorm at eps 1e-12 fixed
 * in code. Sequence classification goes through pre_classifier + ReLU.
 */
import { Activation } from '@attnflow/kernels';
import { activationFromName, loadLinear, loadNorm } from '@attnflow/layers';
import { blockLayers, encoderBasics, encoderRecipe, loadBlock, loadClassifier, loadEmbeddings, loadTokenHead, taskClasses, tiedDecoder, type EncoderArchitecture, type EncoderHeads } from './encoder.js';

/** transformers' DistilBERT modules build nn.LayerNorm(dim, eps=1e-12); the config has no eps field. */
const EPS = 1e-12;

const LAYER = { q: 'attention.q_lin', k: 'attention.k_lin', v: 'attention.v_lin', o: 'attention.out_lin', attnNorm: 'sa_layer_norm', up: 'ffn.lin1', down: 'ffn.lin2', ffnNorm: 'output_layer_norm' };

export const DISTILBERT: EncoderArchitecture = {
  modelTypes: ['distilbert'],
  classes: taskClasses('DistilBert'),
  load: (cfg, head, root) => {
    const basics = encoderBasics(cfg, cfg.architecture ?? 'DistilBertModel', head);
    const H = basics.hiddenSize;
    const activation = activationFromName(cfg.str('activation', 'gelu'), 'activation');
    const maxPositions = cfg.int('max_position_embeddings', 512);
    const recipe = encoderRecipe(basics, { maxPositions, positionIds: { kind: 'range' }, activation });
    const base = root.scope('distilbert');
    const embeddings = loadEmbeddings(base.scope('embeddings'), { vocab: basics.vocabSize, width: H, positionRows: maxPositions, typeVocab: 0, eps: EPS });
    const layers = Array.from({ length: basics.numLayers }, (_, i) => loadBlock(base.scope('transformer.layer', i), LAYER, H, basics.intermediateSize, EPS));
    const heads: EncoderHeads = { tokens: loadTokenHead(root, head, H, basics.numLabels) };
    if (head === 'sequence-classification') heads.sequence = loadClassifier(root, { dense: 'pre_classifier', out: 'classifier' }, H, basics.numLabels, Activation.relu);
    if (head === 'masked-lm') {
      heads.mlm = { dense: loadLinear(root.scope('vocab_transform'), H, H), activation, norm: loadNorm(root.scope('vocab_layer_norm'), H, EPS), decoder: tiedDecoder(embeddings.word, root.scope('vocab_projector').get('bias', [basics.vocabSize])) };
      root.ignore(/^vocab_projector\.weight$/);
    }
    return { recipe, weights: { embeddings, layers: blockLayers(layers, recipe.block), blocks: layers, heads } };
  },
};
