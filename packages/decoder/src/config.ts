/**
 * How to decode, named as Hugging Face's `generation_config.json` names it (in camelCase), so a model's own file,
 * a pipeline file's `stages.decoder`, a CLI flag and an API call all speak of the same fields. Resolved once by
 * `resolveGenerationConfig`: the model's defaults first, each later layer overriding only what it sets.
 */
export interface GenerationConfig {
  /** Tokens to generate at most (beyond the prompt; for encoder-decoders beyond the start token). */
  maxNewTokens?: number;
  /** Total length at most: prompt + new tokens for causal models, the decoder's output for encoder-decoders. */
  maxLength?: number;
  /** EOS is suppressed until the output has this many tokens (counted like maxLength). */
  minLength?: number;
  /** EOS is suppressed until this many tokens were generated. */
  minNewTokens?: number;
  /** Sample instead of taking the most likely token (greedy). */
  doSample?: boolean;
  /** Beam search with this many beams when > 1. */
  numBeams?: number;
  /** Divides the logits before sampling; < 1 sharpens, > 1 flattens. */
  temperature?: number;
  /** Sample among the k most likely tokens only (0 = all). */
  topK?: number;
  /** Sample among the smallest set of tokens whose probability reaches p (1 = all). */
  topP?: number;
  /** CTRL's penalty on tokens already in the sequence (1 = off). */
  repetitionPenalty?: number;
  /** Beam scores are divided by length^lengthPenalty. */
  lengthPenalty?: number;
  /**
   * Beam search: true stops an input once numBeams hypotheses have finished; false stops when the best running
   * beam (scored at its current length) cannot beat the worst finished one; "never" scores it at maxLength.
   */
  earlyStopping?: boolean | 'never';
  /** Log-softmax the scores again after the other processors (banned tokens' mass is given back). */
  renormalizeLogits?: boolean;
  /** No n-gram of this size occurs twice in the output (0 = off). */
  noRepeatNgramSize?: number;
  /** Token sequences that are never generated. */
  badWordsIds?: number[][];
  /** Tokens that are never generated. */
  suppressTokens?: number[];
  /** The first generated token is forced to this one (mBART's target language, BART's BOS). */
  forcedBosTokenId?: number;
  /** The last token before maxLength is forced to this one. */
  forcedEosTokenId?: number;
  bosTokenId?: number;
  /** A row ends when it produces any of these. */
  eosTokenId?: number | number[];
  padTokenId?: number;
  /** The encoder-decoder's first decoder input. */
  decoderStartTokenId?: number;
  /** A row ends when its text ends with one of these strings (Hugging Face's `stop_strings`). */
  stopStrings?: string[];
  /** Seed of the sampler: the same seed gives the same samples on every machine (attnflow's own). */
  seed?: number;
}

export type GenerationField = keyof GenerationConfig;

/** Each field's snake_case name in generation_config.json and the JSON type it must have there. */
const FIELDS: { [K in GenerationField]-?: { json: string; type: 'int' | 'number' | 'boolean' | 'booleanOrNever' | 'ints' | 'intLists' | 'intOrInts' | 'strings' } } = {
  maxNewTokens: { json: 'max_new_tokens', type: 'int' },
  maxLength: { json: 'max_length', type: 'int' },
  minLength: { json: 'min_length', type: 'int' },
  minNewTokens: { json: 'min_new_tokens', type: 'int' },
  doSample: { json: 'do_sample', type: 'boolean' },
  numBeams: { json: 'num_beams', type: 'int' },
  temperature: { json: 'temperature', type: 'number' },
  topK: { json: 'top_k', type: 'int' },
  topP: { json: 'top_p', type: 'number' },
  repetitionPenalty: { json: 'repetition_penalty', type: 'number' },
  lengthPenalty: { json: 'length_penalty', type: 'number' },
  earlyStopping: { json: 'early_stopping', type: 'booleanOrNever' },
  renormalizeLogits: { json: 'renormalize_logits', type: 'boolean' },
  noRepeatNgramSize: { json: 'no_repeat_ngram_size', type: 'int' },
  badWordsIds: { json: 'bad_words_ids', type: 'intLists' },
  suppressTokens: { json: 'suppress_tokens', type: 'ints' },
  forcedBosTokenId: { json: 'forced_bos_token_id', type: 'int' },
  forcedEosTokenId: { json: 'forced_eos_token_id', type: 'int' },
  bosTokenId: { json: 'bos_token_id', type: 'int' },
  eosTokenId: { json: 'eos_token_id', type: 'intOrInts' },
  padTokenId: { json: 'pad_token_id', type: 'int' },
  decoderStartTokenId: { json: 'decoder_start_token_id', type: 'int' },
  stopStrings: { json: 'stop_strings', type: 'strings' },
  seed: { json: 'seed', type: 'int' },
};

export const GENERATION_FIELDS = Object.keys(FIELDS) as GenerationField[];

export class GenerationConfigError extends Error {
  override name = 'GenerationConfigError';
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isInts = (v: unknown): v is number[] => Array.isArray(v) && v.every(isInt);

function checked(value: unknown, type: (typeof FIELDS)[GenerationField]['type']): boolean {
  switch (type) {
    case 'int':
      return isInt(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'booleanOrNever':
      return typeof value === 'boolean' || value === 'never';
    case 'ints':
      return isInts(value);
    case 'intLists':
      return Array.isArray(value) && value.every(isInts);
    case 'intOrInts':
      return isInt(value) || isInts(value);
    case 'strings':
      return Array.isArray(value) && value.every((s) => typeof s === 'string');
  }
}

const EXPECTED = { int: 'a whole number ≥ 0', number: 'a number', boolean: 'true or false', booleanOrNever: 'true, false or "never"', ints: 'a list of token ids', intLists: 'a list of lists of token ids', intOrInts: 'a token id or a list of them', strings: 'a list of strings' };

/**
 * The generation fields of a Hugging Face JSON object (generation_config.json, or config.json for models saved
 * without one). `null` means unset, as in Hugging Face; any other value of the wrong type is an error naming
 * the file and field. Fields attnflow does not use (`transformers_version`, `output_scores`, …) are ignored.
 */
export function generationConfigFromJson(json: Record<string, unknown>, file: string): GenerationConfig {
  const out: Record<string, unknown> = {};
  for (const field of GENERATION_FIELDS) {
    const { json: key, type } = FIELDS[field];
    const value = json[key];
    if (value === undefined || value === null) continue;
    if (!checked(value, type)) throw new GenerationConfigError(`${file}: "${key}" is ${JSON.stringify(value)}; expected ${EXPECTED[type]}`);
    out[field] = value;
  }
  return out as GenerationConfig;
}

/** Later layers override earlier ones, field by field; an undefined field overrides nothing. */
export function resolveGenerationConfig(...layers: (GenerationConfig | undefined)[]): GenerationConfig {
  const out: GenerationConfig = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const field of GENERATION_FIELDS) if (layer[field] !== undefined) Object.assign(out, { [field]: layer[field] });
  }
  return out;
}

/** The set of end-of-sequence ids (Llama 3 and Qwen list several). */
export const eosIds = (config: GenerationConfig): Set<number> => new Set(config.eosTokenId === undefined ? [] : [config.eosTokenId].flat());
