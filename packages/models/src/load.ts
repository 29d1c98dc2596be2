import { existsSync } from 'node:fs';
import { sharedEngine, type Engine } from '@attnflow/kernels';
import { Tokenizer } from '@attnflow/tokenizer';
import { ConfigError, ConfigReader } from './config.js';
import type { LoadOptions, ModelDType } from './dtype.js';
import { ENCODER_ARCHITECTURES, ENCODERS, EncoderModel } from './encoderModel.js';
import type { CausalLM } from './generation.js';
import { Gpt2Model } from './gpt2.js';
import { LLAMA_ARCHITECTURES, LlamaModel } from './llama.js';
import { SEQ2SEQ_ARCHITECTURES, SEQ2SEQ_BY_MODEL_TYPE, Seq2SeqModel } from './seq2seq.js';
import { readSentenceTransformer, type SentenceTransformerSettings } from './sentence.js';

/** A loaded model with what came with it; `dtype` is how it computes (see dtype.ts). */
export type LoadedModel = { dir: string; tokenizer: Tokenizer; config: ConfigReader; dtype: ModelDType } & (
  | { kind: 'encoder'; model: EncoderModel; sentence?: SentenceTransformerSettings }
  | { kind: 'causal'; model: CausalLM }
  | { kind: 'seq2seq'; model: Seq2SeqModel }
);

export const SUPPORTED_ARCHITECTURES = [...ENCODER_ARCHITECTURES, 'GPT2LMHeadModel', 'GPT2Model', ...LLAMA_ARCHITECTURES, ...SEQ2SEQ_ARCHITECTURES];

/** Loads any supported Hugging Face model directory: config.json, model.safetensors, tokenizer.json. */
export function loadModel(dir: string, engine: Engine = sharedEngine(), options: LoadOptions = {}): LoadedModel {
  if (!existsSync(dir)) throw new ConfigError(`${dir}: no such model directory`);
  const config = ConfigReader.read(dir);
  const arch = config.architecture ?? inferArchitecture(config);
  // an unsupported class is the first thing to say, before what its files lack
  if (!SUPPORTED_ARCHITECTURES.includes(arch)) throw new ConfigError(`${config.file}: architecture "${arch}" is not supported. Supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  const tokenizer = Tokenizer.fromDirectory(dir);
  checkVocabulary(dir, tokenizer, config);
  const loaded = { dir, tokenizer, config, dtype: options.dtype ?? 'fp32' } as const;
  if (ENCODER_ARCHITECTURES.includes(arch)) {
    return { ...loaded, kind: 'encoder', model: EncoderModel.load(dir, engine, config, options), sentence: readSentenceTransformer(dir) };
  }
  if (arch === 'GPT2LMHeadModel' || arch === 'GPT2Model') return { ...loaded, kind: 'causal', model: Gpt2Model.load(dir, engine, config, options) };
  if (LLAMA_ARCHITECTURES.includes(arch)) return { ...loaded, kind: 'causal', model: LlamaModel.load(dir, engine, config, options) };
  return { ...loaded, kind: 'seq2seq', model: Seq2SeqModel.load(dir, engine, config, options) };
}

function inferArchitecture(config: ConfigReader): string {
  const byType: Record<string, string> = {
    gpt2: 'GPT2LMHeadModel', llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM',
    phi3: 'Phi3ForCausalLM', gemma2: 'Gemma2ForCausalLM', gpt_neox: 'GPTNeoXForCausalLM', ...SEQ2SEQ_BY_MODEL_TYPE,
  };
  for (const a of ENCODERS) for (const type of a.modelTypes) byType[type] = Object.keys(a.classes)[0];
  const type = config.str('model_type', '');
  const arch = byType[type];
  if (!arch) throw new ConfigError(`${config.file}: no "architectures" and model_type ${JSON.stringify(type)} is not one attnflow knows (${Object.keys(byType).join(', ')})`);
  return arch;
}

/**
 * A text's ids must fall inside the embedding table. Special tokens past it are a Hub pattern (bart-large-cnn's
 * `<mask>` is id 50264 of a 50264-row table) and fail only if a text uses them, as in Hugging Face; an ordinary
 * token past it means tokenizer and weights do not belong together, which is refused here, naming both files.
 */
function checkVocabulary(dir: string, tokenizer: Tokenizer, config: ConfigReader): void {
  const rows = config.int('vocab_size');
  for (let id = tokenizer.vocabSize - 1; id >= rows; id--) {
    if (tokenizer.idToToken(id) === undefined || tokenizer.isSpecial(id)) continue;
    throw new ConfigError(`${dir}: the tokenizer's token ids go up to ${tokenizer.vocabSize - 1} (${JSON.stringify(tokenizer.idToToken(id))} is ${id}), but ${config.file} has vocab_size ${rows} (the embedding table's rows): tokenizer and model do not match`);
  }
}
