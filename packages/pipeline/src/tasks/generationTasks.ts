import { chatIds, eosIdsOf, promptRoom, requireChatTemplate, type GenerationConfig, type LoadedModel, type TokenEvent } from '@attnflow/models';
import type { ChatMessage } from '@attnflow/tokenizer';
import type { Observable } from 'rxjs';
import type { TokenizerOptions } from './options.js';
import { countTokens, requireKind, TaskError, type Task } from './task.js';

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

/** Text generation with a causal LM: the continuation of each prompt. */
export const generateTask: Task<'generate', GenerationResult> = {
  name: 'generate',
  kinds: ['causal'],
  check(model, options) {
    promptRoom(requireKind(model, 'generate', ['causal']).model, options.decoder);
  },
  async run(model, records, options) {
    const m = requireKind(model, 'generate', ['causal']);
    const prompts = records.map((r) => promptIds(m, r.text, options.tokenizer, options.decoder));
    const rows = await m.model.generate(prompts, options.decoder, { stopSequences: stopSequences(m, options.decoder.stopStrings) });
    return { results: decodeAll(m, rows, options.decoder), tokens: prompts.reduce((n, p) => n + p.length, 0) + rows.reduce((n, r) => n + r.length, 0) };
  },
};

/** Tokenizes sources for an encoder-decoder: right-padded, cut at tokenizer.maxLength or the model's positions. */
export function encodeSources(m: Seq2Seq, texts: string[], tokenizer: TokenizerOptions) {
  return m.tokenizer.encodeBatch(texts, { maxLength: tokenizer.maxLength ?? (m.model.recipe.maxPositions || 512), paddingSide: 'right' });
}

/** Translation / summarisation with an encoder-decoder (BART, Marian, T5). */
function text2textTask<N extends 'translate' | 'summarize'>(name: N): Task<N, GenerationResult> {
  return {
    name,
    kinds: ['seq2seq'],
    async run(model, records, options) {
      const m = requireKind(model, name, ['seq2seq']);
      const enc = encodeSources(m, records.map((r) => r.text), options.tokenizer);
      const rows = await m.model.generate(enc, options.decoder, { stopSequences: stopSequences(m, options.decoder.stopStrings) });
      return { results: decodeAll(m, rows, options.decoder), tokens: countTokens(enc.attentionMask) + rows.reduce((n, r) => n + r.length, 0) };
    },
  };
}

export const translateTask = text2textTask('translate');
export const summarizeTask = text2textTask('summarize');

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
