import { chatIds, eosIdsOf, generationConfigFromJson, promptRoom, requireChatTemplate, resolveGenerationConfig, type GenerationConfig, type LoadedModel, type TokenEvent } from '@attnflow/models';
import { languageTokenId, translationLanguages, withLanguage, type ChatMessage, type Tokenizer } from '@attnflow/tokenizer';
import type { Observable } from 'rxjs';
import type { HeadOptions, TokenizerOptions } from './options.js';
import { countTokens, requireKind, TaskError, type Task, type TextRecord } from './task.js';

export interface GenerationResult {
  /** The generated text (the continuation; for seq2seq the whole output), special tokens removed. */
  generated: string;
  /** The generated token ids, up to and including EOS. */
  tokens: number[];
}

type Causal = Extract<LoadedModel, { kind: 'causal' }>;
type Seq2Seq = Extract<LoadedModel, { kind: 'seq2seq' }>;

function stopSequences(m: LoadedModel, stop: string[] | undefined): number[][] | undefined {
  return stop?.map((s) => m.tokenizer.encode(s, undefined, { addSpecialTokens: false }).ids);
}

function trimAtStop(text: string, stop: string[] | undefined): string {
  let cut = text.length;
  for (const s of stop ?? []) {
    const at = text.indexOf(s);
    if (at >= 0) cut = Math.min(cut, at);
  }
  return text.slice(0, cut);
}

/** A prompt's ids, cut from the left to what leaves room for the new tokens (and to tokenizer.maxLength). */
function promptIds(m: Causal, text: string, tokenizer: TokenizerOptions, decoder: GenerationConfig): number[] {
  let ids = m.tokenizer.encode(text).ids;
  const bos = m.model.generationConfig.bosTokenId ?? m.model.recipe.bosTokenId;
  if (!ids.length && bos !== undefined) ids = [bos];
  if (!ids.length) throw new TaskError('an empty prompt needs a model with a bos_token_id');
  const limit = Math.min(tokenizer.maxLength ?? Infinity, promptRoom(m.model, decoder));
  return ids.length > limit ? ids.slice(ids.length - limit) : ids;
}

/** Whether a batch is chat: fixed messages were given, or the records are conversations. */
const chatting = (head: HeadOptions['generate'], records: readonly TextRecord[]) => head.messages !== undefined || records.some((r) => r.messages);

/**
 * Each record as the end of a conversation after the fixed messages (its own conversation, or its text as the
 * last user turn), rendered with the chat template as apply_chat_template does. A conversation is never cut:
 * dropping its first tokens would drop the system prompt and the template's markup with them.
 */
export function conversationIds(m: Causal, records: readonly TextRecord[], fixed: readonly ChatMessage[], tokenizer: TokenizerOptions, decoder: GenerationConfig): number[][] {
  const template = requireChatTemplate(m.dir);
  const limit = Math.min(tokenizer.maxLength ?? Infinity, promptRoom(m.model, decoder));
  return records.map((r) => {
    const ids = chatIds(m.tokenizer, template, [...fixed, ...(r.messages ?? [{ role: 'user', content: r.text }])]);
    if (ids.length > limit) throw new TaskError(`record ${r.index}: its conversation is ${ids.length} tokens; at most ${limit} fit (tokenizer.maxLength, or the model's positions less the new tokens)`);
    return ids;
  });
}

/** Generated ids → text: up to and including the first EOS, trailing padding dropped, cut at a stop string. */
function decodeAll(m: LoadedModel & { kind: 'causal' | 'seq2seq' }, rows: number[][], decoder: GenerationConfig): GenerationResult[] {
  const eos = eosIdsOf(m.model, decoder);
  const pad = m.model.generationConfig.padTokenId;
  return rows.map((tokens) => {
    const end = tokens.findIndex((t) => eos.has(t));
    const kept = end >= 0 ? tokens.slice(0, end + 1) : tokens.filter((t, i) => !(t === pad && tokens.slice(i).every((x) => x === pad)));
    return { generated: trimAtStop(m.tokenizer.decode(kept), decoder.stopStrings), tokens: kept };
  });
}

/** What a model's config.json asks for one task (task_specific_params): a prefix for the input, generation settings. */
export interface TaskParams {
  key?: string;
  prefix: string;
  decoder: GenerationConfig;
}

function taskParamsTable(m: LoadedModel): Record<string, unknown> {
  const table = m.config.raw.task_specific_params;
  return typeof table === 'object' && table !== null && !Array.isArray(table) ? (table as Record<string, unknown>) : {};
}

/**
 * config.json's task_specific_params[key], as Hugging Face's pipelines merge it over the generation config:
 * its `prefix` is prepended to every input, the rest are generation settings (checked like generation_config.json).
 */
export function taskParams(m: LoadedModel, key: string | undefined): TaskParams {
  const entry = key === undefined ? undefined : taskParamsTable(m)[key];
  if (entry === undefined) return { key, prefix: '', decoder: {} };
  const where = `${m.config.file} task_specific_params.${key}`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new TaskError(`${where}: expected an object`);
  const { prefix = '', ...rest } = entry as Record<string, unknown>;
  if (typeof prefix !== 'string') throw new TaskError(`${where}: "prefix" is ${JSON.stringify(prefix)}; expected a string`);
  return { key, prefix, decoder: generationConfigFromJson(rest, where) };
}

/**
 * The task_specific_params key of a translation: translation_<src>_to_<tgt> when the languages are given, else
 * the model's only translation entry (none: no prefix, e.g. Marian, which is one language pair).
 */
function translationKey(m: LoadedModel, head: HeadOptions['translate']): string | undefined {
  const keys = translationKeys(m);
  // without translation entries the languages are the tokenizer's business (mBART, M2M100), or nobody's
  if (!keys.length) return undefined;
  if (head.srcLang !== undefined || head.tgtLang !== undefined) {
    if (head.srcLang === undefined || head.tgtLang === undefined) throw new TaskError('translate: give both srcLang and tgtLang (CLI --src/--tgt), or neither');
    const key = `translation_${head.srcLang}_to_${head.tgtLang}`;
    if (!keys.includes(key)) throw new TaskError(`${m.config.file}: task_specific_params has no "${key}" (it has ${keys.join(', ')})`);
    return key;
  }
  if (keys.length > 1) throw new TaskError(`${m.config.file}: the model translates several language pairs (${keys.join(', ')}); choose one with srcLang and tgtLang (CLI --src/--tgt)`);
  return keys[0];
}

const translationKeys = (m: LoadedModel) => Object.keys(taskParamsTable(m)).filter((k) => k.startsWith('translation'));

/** Text generation with a causal LM: the continuation of each prompt. */
export const generateTask: Task<'generate', GenerationResult> = {
  name: 'generate',
  kinds: ['causal'],
  check(model, options) {
    const m = requireKind(model, 'generate', ['causal']);
    promptRoom(m.model, options.decoder);
    if (options.head.messages) requireChatTemplate(m.dir);
  },
  async run(model, records, options) {
    const m = requireKind(model, 'generate', ['causal']);
    const params = taskParams(m, 'text-generation');
    const decoder = resolveGenerationConfig(params.decoder, options.decoder);
    const prompts = chatting(options.head, records) ? conversationIds(m, records, options.head.messages ?? [], options.tokenizer, decoder) : records.map((r) => promptIds(m, params.prefix + r.text, options.tokenizer, decoder));
    const rows = await m.model.generate(prompts, decoder, { stopSequences: stopSequences(m, decoder.stopStrings) });
    return { results: decodeAll(m, rows, decoder), tokens: prompts.reduce((n, p) => n + p.length, 0) + rows.reduce((n, r) => n + r.length, 0) };
  },
};

/** Tokenizes sources for an encoder-decoder: right-padded, cut at tokenizer.maxLength or the model's positions. */
export function encodeSources(m: Seq2Seq, texts: string[], tokenizer: TokenizerOptions, sourceTokenizer: Tokenizer = m.tokenizer) {
  return sourceTokenizer.encodeBatch(texts, { maxLength: tokenizer.maxLength ?? (m.model.recipe.maxPositions || 512), paddingSide: 'right' });
}

/**
 * Translation options (srcLang/tgtLang, CLI --src/--tgt) do what the model understands: T5's task prefix through
 * task_specific_params.translation_<src>_to_<tgt>, and for a multilingual model (mBART, M2M100, NLLB) the source
 * language marked in the tokenizer's template and the target forced as the first generated token, each
 * defaulting to tokenizer_config.json's. A model with neither takes no languages.
 */
function translation(m: Seq2Seq, head: HeadOptions['translate'], decoder: GenerationConfig): { tokenizer: Tokenizer; prefix: string; decoder: GenerationConfig } {
  const langs = translationLanguages(m.tokenizer);
  if (!langs && !translationKeys(m).length && (head.srcLang !== undefined || head.tgtLang !== undefined)) {
    throw new TaskError(`${m.dir}: srcLang/tgtLang (--src/--tgt) need a model with language codes (mBART, M2M100, NLLB) or with translation_<src>_to_<tgt> task_specific_params (T5); this one has neither`);
  }
  // The model's generation config, then its task_specific_params for this task, then the caller's settings.
  const params = taskParams(m, translationKey(m, head));
  const resolved = resolveGenerationConfig(params.decoder, decoder);
  if (!langs) return { tokenizer: m.tokenizer, prefix: params.prefix, decoder: resolved };
  const src = head.srcLang ?? langs.srcLang;
  const tgt = head.tgtLang ?? langs.tgtLang;
  try {
    const tokenizer = src === undefined ? m.tokenizer : withLanguage(m.tokenizer, src, 'source');
    if (tgt === undefined) return { tokenizer, prefix: params.prefix, decoder: resolved };
    const forced = languageTokenId(m.tokenizer, tgt, 'target language');
    // an explicit tgtLang wins over a forcedBosTokenId in the decoder options; tokenizer_config's default does not
    return { tokenizer, prefix: params.prefix, decoder: { ...resolved, forcedBosTokenId: head.tgtLang !== undefined ? forced : resolved.forcedBosTokenId ?? forced } };
  } catch (e) {
    throw new TaskError((e as Error).message);
  }
}

async function text2text(m: Seq2Seq, texts: string[], tokenizerOptions: TokenizerOptions, decoder: GenerationConfig, sourceTokenizer?: Tokenizer) {
  const enc = encodeSources(m, texts, tokenizerOptions, sourceTokenizer);
  const rows = await m.model.generate(enc, decoder, { stopSequences: stopSequences(m, decoder.stopStrings) });
  return { results: decodeAll(m, rows, decoder), tokens: countTokens(enc.attentionMask) + rows.reduce((n, r) => n + r.length, 0) };
}

/** Translation with an encoder-decoder (BART, Marian, T5, mBART, M2M100). */
export const translateTask: Task<'translate', GenerationResult> = {
  name: 'translate',
  kinds: ['seq2seq'],
  check(model, options) {
    translation(requireKind(model, 'translate', ['seq2seq']), options.head, options.decoder);
  },
  run(model, records, options) {
    const m = requireKind(model, 'translate', ['seq2seq']);
    const { tokenizer, prefix, decoder } = translation(m, options.head, options.decoder);
    return text2text(m, records.map((r) => prefix + r.text), options.tokenizer, decoder, tokenizer);
  },
};

/** Summarisation with an encoder-decoder: task_specific_params.summarization's prefix and settings. */
export const summarizeTask: Task<'summarize', GenerationResult> = {
  name: 'summarize',
  kinds: ['seq2seq'],
  check(model) {
    taskParams(requireKind(model, 'summarize', ['seq2seq']), 'summarization');
  },
  run(model, records, options) {
    const m = requireKind(model, 'summarize', ['seq2seq']);
    const params = taskParams(m, 'summarization');
    return text2text(m, records.map((r) => params.prefix + r.text), options.tokenizer, resolveGenerationConfig(params.decoder, options.decoder));
  },
};

/**
 * Tokens of one prompt as they are produced, with text deltas that never split a character; unsubscribing
 * stops generation. Streaming shows one continuation as it grows: greedy or sampled, never beams.
 */
export function promptStream(model: LoadedModel, prompt: string, tokenizer: TokenizerOptions = {}, decoder: GenerationConfig = {}): Observable<TokenEvent> {
  const m = requireKind(model, 'generate', ['causal', 'seq2seq']);
  const stops = stopSequences(m, decoder.stopStrings);
  const decodeText = (ids: number[]) => m.tokenizer.decode(ids);
  if (m.kind === 'causal') return m.model.generateStream([promptIds(m, prompt, tokenizer, decoder)], decoder, decodeText, stops);
  return m.model.generateStream(encodeSources(m, [prompt], tokenizer), decoder, decodeText, stops);
}

/**
 * The next assistant turn of a conversation, as it is produced: the messages rendered with the model's chat
 * template (with the generation prompt), tokenized as apply_chat_template does; stops at any EOS id.
 */
export function conversationStream(model: LoadedModel, messages: readonly ChatMessage[], decoder: GenerationConfig = {}): Observable<TokenEvent> {
  const m = requireKind(model, 'generate', ['causal']);
  const ids = chatIds(m.tokenizer, requireChatTemplate(m.dir), messages);
  return m.model.generateStream([ids], decoder, (t) => m.tokenizer.decode(t), stopSequences(m, decoder.stopStrings));
}
