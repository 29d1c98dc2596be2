/**
 * ELECTRA: BERT's layers over embeddings of embedding_size, projected to hidden_size by embeddings_project (only
 * when the sizes differ). Heads: sequence classification (dense → exact GELU → out_proj), the discriminator
 * (ElectraForPreTraining: one logit per token) and the generator's masked LM (dense to embedding_size → GELU →
 * LayerNorm → tied decoder).
 */
import { Activation } from '@attnflow/kernels';
import { activationFromName, loadLinear, loadNorm } from '@attnflow/layers';
import { BERT_LAYER, blockLayers, encoderBasics, encoderRecipe, loadBlock, loadClassifier, loadEmbeddings, loadTokenHead, taskClasses, tiedDecoder, type EncoderArchitecture, type EncoderHeads } from './encoder.js';

export const ELECTRA: EncoderArchitecture = {
  modelTypes: ['electra'],
  classes: { ...taskClasses('Electra'), ElectraForPreTraining: 'token-classification' },
  load: (cfg, head, root) => {
    const basics = encoderBasics(cfg, cfg.architecture ?? 'ElectraModel', head);
    const discriminator = basics.architecture === 'ElectraForPreTraining';
    if (discriminator) basics.numLabels = 1;
    const H = basics.hiddenSize;
    const E = cfg.int('embedding_size', H);
    const eps = cfg.num('layer_norm_eps', 1e-12);
    const activation = activationFromName(cfg.str('hidden_act', 'gelu'));
    const maxPositions = cfg.int('max_position_embeddings', 512);
    const recipe = encoderRecipe(basics, { embeddingSize: E, maxPositions, positionIds: { kind: 'range' }, activation });
    const base = root.scope('electra');
    const embeddings = loadEmbeddings(base.scope('embeddings'), { vocab: basics.vocabSize, width: E, positionRows: maxPositions, typeVocab: cfg.int('type_vocab_size', 2, 0), eps });
    const projection = E !== H ? loadLinear(base.scope('embeddings_project'), E, H) : undefined;
    const layers = Array.from({ length: basics.numLayers }, (_, i) => loadBlock(base.scope('encoder.layer', i), BERT_LAYER, H, basics.intermediateSize, eps));
    const heads: EncoderHeads = { tokens: loadTokenHead(root, head, H, basics.numLabels) };
    if (discriminator) heads.tokens = loadClassifier(root.scope('discriminator_predictions'), { dense: 'dense', out: 'dense_prediction' }, H, 1, activation);
    else if (head === 'sequence-classification') heads.sequence = loadClassifier(root.scope('classifier'), { dense: 'dense', out: 'out_proj' }, H, basics.numLabels, Activation.gelu);
    else if (head === 'masked-lm') {
      const p = root.scope('generator_predictions');
      heads.mlm = { dense: loadLinear(p.scope('dense'), H, E), activation: Activation.gelu, norm: loadNorm(p.scope('LayerNorm'), E, eps), decoder: tiedDecoder(embeddings.word, root.scope('generator_lm_head').get('bias', [basics.vocabSize])) };
      root.ignore(/^generator_lm_head\.weight$/);
    }
    return { recipe, weights: { embeddings, projection, layers: blockLayers(layers, recipe.block), blocks: layers, heads } };
  },
};
