import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedEngine, type Engine } from '@attnflow/kernels';
import { Tokenizer } from '@attnflow/tokenizer';
import { BERT_ARCHITECTURES, BertModel } from './bert.js';
import { ConfigError, ConfigReader } from './config.js';
import type { CausalLM } from './generation.js';
import { Gpt2Model } from './gpt2.js';
import { LLAMA_ARCHITECTURES, LlamaModel } from './llama.js';
import { SEQ2SEQ_ARCHITECTURES, Seq2SeqModel } from './seq2seq.js';

export type PoolingMode = 'mean' | 'cls' | 'max';

/** sentence-transformers' pooling settings (modules.json → 1_Pooling/config.json → Normalize), when present. */
export interface SentenceTransformerSettings {
  pooling: PoolingMode;
  normalize: boolean;
}

export type LoadedModel =
  | { kind: 'encoder'; dir: string; model: BertModel; tokenizer: Tokenizer; config: ConfigReader; sentence?: SentenceTransformerSettings }
  | { kind: 'causal'; dir: string; model: CausalLM; tokenizer: Tokenizer; config: ConfigReader }
  | { kind: 'seq2seq'; dir: string; model: Seq2SeqModel; tokenizer: Tokenizer; config: ConfigReader };

export const SUPPORTED_ARCHITECTURES = [...BERT_ARCHITECTURES, 'GPT2LMHeadModel', 'GPT2Model', ...LLAMA_ARCHITECTURES, ...SEQ2SEQ_ARCHITECTURES];

/** Loads any supported Hugging Face model directory: config.json, model.safetensors, tokenizer.json. */
export function loadModel(dir: string, engine: Engine = sharedEngine()): LoadedModel {
  if (!existsSync(dir)) throw new ConfigError(`${dir}: no such model directory`);
  const config = ConfigReader.read(dir);
  const arch = config.architecture ?? inferArchitecture(config);
  const tokenizer = Tokenizer.fromDirectory(dir);
  if (BERT_ARCHITECTURES.includes(arch)) {
    return { kind: 'encoder', dir, model: BertModel.load(dir, engine, config), tokenizer, config, sentence: readSentenceTransformer(dir) };
  }
  if (arch === 'GPT2LMHeadModel' || arch === 'GPT2Model') return { kind: 'causal', dir, model: Gpt2Model.load(dir, engine, config), tokenizer, config };
  if (LLAMA_ARCHITECTURES.includes(arch)) return { kind: 'causal', dir, model: LlamaModel.load(dir, engine, config), tokenizer, config };
  if (SEQ2SEQ_ARCHITECTURES.includes(arch)) return { kind: 'seq2seq', dir, model: Seq2SeqModel.load(dir, engine, config), tokenizer, config };
  throw new ConfigError(`${config.file}: architecture "${arch}" is not supported. Supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`);
}

function inferArchitecture(config: ConfigReader): string {
  const byType: Record<string, string> = { bert: 'BertModel', roberta: 'RobertaModel', distilbert: 'DistilBertModel', gpt2: 'GPT2LMHeadModel', llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', phi3: 'Phi3ForCausalLM', gemma2: 'Gemma2ForCausalLM', gpt_neox: 'GPTNeoXForCausalLM', bart: 'BartForConditionalGeneration', marian: 'MarianMTModel', t5: 'T5ForConditionalGeneration' };
  const type = config.str('model_type', '');
  const arch = byType[type];
  if (!arch) throw new ConfigError(`${config.file}: no "architectures" and model_type ${JSON.stringify(type)} is not one attnflow knows (${Object.keys(byType).join(', ')})`);
  return arch;
}

function readSentenceTransformer(dir: string): SentenceTransformerSettings | undefined {
  const modulesFile = join(dir, 'modules.json');
  if (!existsSync(modulesFile)) return undefined;
  const modules = JSON.parse(readFileSync(modulesFile, 'utf8')) as { path: string; type: string }[];
  const poolingModule = modules.find((m) => m.type.endsWith('Pooling'));
  let pooling: PoolingMode = 'mean';
  if (poolingModule) {
    const cfg = JSON.parse(readFileSync(join(dir, poolingModule.path, 'config.json'), 'utf8')) as Record<string, boolean>;
    pooling = cfg.pooling_mode_cls_token ? 'cls' : cfg.pooling_mode_max_tokens ? 'max' : 'mean';
  }
  return { pooling, normalize: modules.some((m) => m.type.endsWith('Normalize')) };
}
