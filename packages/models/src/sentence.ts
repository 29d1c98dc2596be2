/**
 * A sentence-transformers repo's modules (modules.json): Transformer, Pooling, Dense, Normalize, with
 * sentence_bert_config.json's max_seq_length and do_lower_case. The model's own pipeline is the default of the
 * embed task; a pipeline's head options replace only what they set.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, readJsonFile } from '@attnflow/checkpoint';
import { POOLING_MODES, type DenseActivation, type DenseLayer, type PoolingMode } from '@attnflow/head';
import { ConfigError, type ConfigReader } from './config.js';

export interface SentenceTransformerSettings {
  /** Pooling modes, concatenated in this order when several are on (sentence-transformers' order). */
  pooling: PoolingMode[];
  /** Dense modules after pooling, in order. */
  dense: DenseLayer[];
  normalize: boolean;
  /** Tokens per text at most, special tokens included. */
  maxSeqLength?: number;
  /** Lower-case texts before tokenizing. */
  lowercase: boolean;
}

/** The legacy boolean of each mode in 1_Pooling/config.json, in the order sentence-transformers concatenates. */
const POOLING_FLAGS: [string, PoolingMode][] = [
  ['pooling_mode_cls_token', 'cls'], ['pooling_mode_max_tokens', 'max'], ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len_tokens'], ['pooling_mode_weightedmean_tokens', 'weightedmean'], ['pooling_mode_lasttoken', 'lasttoken'],
];

/** torch activation class paths as Dense and CrossEncoder configs store them. */
const TORCH_ACTIVATIONS: Record<string, DenseActivation> = {
  'torch.nn.modules.linear.Identity': 'identity', 'torch.nn.modules.activation.Tanh': 'tanh', 'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.activation.ReLU': 'relu', 'torch.nn.modules.activation.GELU': 'gelu', 'torch.nn.Identity': 'identity', 'torch.nn.Tanh': 'tanh',
  'torch.nn.Sigmoid': 'sigmoid', 'torch.nn.ReLU': 'relu', 'torch.nn.GELU': 'gelu',
};

/** A torch activation path → its name, with an error naming the file and field for anything else. */
export function torchActivation(path: unknown, file: string, field: string): DenseActivation {
  const act = typeof path === 'string' ? TORCH_ACTIVATIONS[path] : undefined;
  if (!act) throw new ConfigError(`${file}: "${field}" is ${JSON.stringify(path)}; expected one of ${Object.keys(TORCH_ACTIVATIONS).join(', ')}`);
  return act;
}

const object = (json: unknown, file: string): Record<string, unknown> => {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`${file}: expected a JSON object`);
  return json as Record<string, unknown>;
};

function poolingModes(file: string): PoolingMode[] {
  const cfg = object(readJsonFile(file), file);
  if (typeof cfg.pooling_mode === 'string') {
    const mode = cfg.pooling_mode === 'mean_sqrt_len' ? 'mean_sqrt_len_tokens' : cfg.pooling_mode;
    const known = POOLING_MODES.find((m) => m === mode);
    if (!known) throw new ConfigError(`${file}: "pooling_mode" is ${JSON.stringify(cfg.pooling_mode)}; expected one of ${POOLING_MODES.join(', ')}`);
    return [known];
  }
  const modes = POOLING_FLAGS.filter(([flag]) => cfg[flag] === true).map(([, mode]) => mode);
  if (!modes.length) throw new ConfigError(`${file}: no pooling mode is on (${POOLING_FLAGS.map(([f]) => f).join(', ')})`);
  return modes;
}

function denseLayer(dir: string): DenseLayer {
  const file = join(dir, 'config.json');
  const cfg = object(readJsonFile(file), file);
  const size = (field: string) => {
    const v = cfg[field];
    if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > 1e6) throw new ConfigError(`${file}: "${field}" is ${JSON.stringify(v)}; expected a size ≥ 1`);
    return v as number;
  };
  const inFeatures = size('in_features');
  const outFeatures = size('out_features');
  const activation = torchActivation(cfg.activation_function ?? 'torch.nn.modules.activation.Tanh', file, 'activation_function');
  const weights = join(dir, 'model.safetensors');
  if (!existsSync(weights)) throw new ConfigError(`${dir}: no model.safetensors (attnflow reads Dense weights from safetensors only)`);
  const ckpt = Checkpoint.openFile(weights);
  const read = (name: string, shape: number[]) => {
    const t = ckpt.load(name);
    try {
      if (t.shape.join() !== shape.join()) throw new ConfigError(`${weights}: "${name}" has shape [${t.shape}], expected [${shape}]`);
      return Float32Array.from(t.toArray() as Float32Array);
    } finally {
      t.dispose();
    }
  };
  const bias = cfg.bias === false ? undefined : read('linear.bias', [outFeatures]);
  return { inFeatures, outFeatures, weight: read('linear.weight', [outFeatures, inFeatures]), bias, activation };
}

/** The modules of a sentence-transformers repo, or undefined when the folder has no modules.json. */
export function readSentenceTransformer(dir: string): SentenceTransformerSettings | undefined {
  const modulesFile = join(dir, 'modules.json');
  if (!existsSync(modulesFile)) return undefined;
  const modules = readJsonFile<unknown>(modulesFile);
  if (!Array.isArray(modules)) throw new ConfigError(`${modulesFile}: expected a list of modules`);
  const settings: SentenceTransformerSettings = { pooling: ['mean'], dense: [], normalize: false, lowercase: false };
  for (const [i, m] of modules.entries()) {
    const { type, path } = object(m, modulesFile);
    if (typeof type !== 'string' || typeof path !== 'string') throw new ConfigError(`${modulesFile}: module ${i} needs string "type" and "path"`);
    const kind = type.split('.').pop();
    if (kind === 'Transformer') continue;
    if (kind === 'Pooling') settings.pooling = poolingModes(join(dir, path, 'config.json'));
    else if (kind === 'Dense') settings.dense.push(denseLayer(join(dir, path)));
    else if (kind === 'Normalize') settings.normalize = true;
    else throw new ConfigError(`${modulesFile}: module ${i} type "${type}" is not supported (Transformer, Pooling, Dense, Normalize)`);
  }
  const stFile = join(dir, 'sentence_bert_config.json');
  if (existsSync(stFile)) {
    const st = object(readJsonFile(stFile), stFile);
    if (st.max_seq_length !== undefined && st.max_seq_length !== null) {
      if (!Number.isSafeInteger(st.max_seq_length) || (st.max_seq_length as number) < 2) throw new ConfigError(`${stFile}: "max_seq_length" is ${JSON.stringify(st.max_seq_length)}; expected an integer ≥ 2`);
      settings.maxSeqLength = st.max_seq_length as number;
    }
    settings.lowercase = st.do_lower_case === true;
  }
  return settings;
}



/**
 * A cross-encoder's default activation, as sentence-transformers' CrossEncoder picks it: config.json's
 * `sentence_transformers.activation_fn`, else the pre-v4 `sbert_ce_default_activation_function` (only torch
 * paths are taken, as without trust_remote_code); else sigmoid for one label and identity for several.
 */
export function crossEncoderActivation(config: ConfigReader, numLabels: number): DenseActivation {
  const st = config.raw.sentence_transformers;
  const candidates: [unknown, string][] = [
    [typeof st === 'object' && st !== null ? (st as Record<string, unknown>).activation_fn : undefined, 'sentence_transformers.activation_fn'],
    [config.raw.sbert_ce_default_activation_function, 'sbert_ce_default_activation_function'],
  ];
  for (const [path, field] of candidates) if (typeof path === 'string' && path.startsWith('torch.')) return torchActivation(path, config.file, field);
  return numLabels === 1 ? 'sigmoid' : 'identity';
}
