import { loadModel, type LoadedModel, type ModelDType, type TokenEvent } from '@attnflow/models';
import type { Entity } from '@attnflow/head';
import { from, lastValueFrom, toArray, type Observable } from 'rxjs';
import type { ChatMessage } from '@attnflow/tokenizer';
import { runTask } from './operators.js';
import type { BatchingOptions } from './batching.js';
import { conversationStream, mergeTaskOptions, promptStream, TaskError, type FillMaskPrediction, type GenerationResult, type QaResult, type TaskName, type TaskOptionsInput, type TaskResults } from './tasks/index.js';

/** A loaded model, or the path of a Hugging Face model directory (loaded once per dtype and kept). */
export type ModelRef = LoadedModel | string;
const cache = new Map<string, LoadedModel>();

export function resolveModel(ref: ModelRef, dtype: ModelDType = 'fp32'): LoadedModel {
  if (typeof ref !== 'string') return ref;
  const key = `${dtype}:${ref}`;
  let m = cache.get(key);
  if (!m) {
    m = loadModel(ref, undefined, { dtype });
    cache.set(key, m);
  }
  return m;
}

/**
 * Options of an API call: the stages of a pipeline file (`tokenizer`, `decoder`, `head`) with the same names and
 * types, `batching`, and the `dtype` a model given by its path loads as (fp32 or q8; a loaded model keeps its own).
 * @example embed('models/mini-bert', texts, { head: { pooling: 'cls' }, batching: { batchSize: 8 }, dtype: 'q8' })
 */
export type CallOptions<N extends TaskName> = TaskOptionsInput<N> & { batching?: BatchingOptions; dtype?: ModelDType };

async function all<N extends TaskName>(ref: ModelRef, task: N, records: { text: string; pair?: string; messages?: ChatMessage[] }[], options: CallOptions<N>): Promise<TaskResults[N][]> {
  const model = resolveModel(ref, options.dtype);
  const rows = await lastValueFrom(from(records.map((r, index) => ({ ...r, index }))).pipe(runTask(model, task, mergeTaskOptions(options), options.batching), toArray()), { defaultValue: [] });
  return rows.map((r) => r.result);
}

const texts = (list: string[]) => list.map((text) => ({ text }));

/** Sentence embeddings (the model's pooling, else mean, L2-normalised unless the model or options say otherwise). */
export async function embed(model: ModelRef, list: string[], options: CallOptions<'embed'> = {}): Promise<Float32Array[]> {
  return (await all(model, 'embed', texts(list), options)).map((r) => r.embedding);
}

/** Labels of texts, or of text pairs ([premise, hypothesis], [query, passage]) given as tuples. */
export function classify(model: ModelRef, list: (string | readonly [string, string])[], options: CallOptions<'classify'> = {}) {
  return all(model, 'classify', list.map((x) => (typeof x === 'string' ? { text: x } : { text: x[0], pair: x[1] })), options);
}

/** Cross-encoder scores of (query, document) pairs in input order (sentence-transformers' CrossEncoder.predict). */
export async function scorePairs(model: ModelRef, pairs: readonly (readonly [string, string])[], options: CallOptions<'rerank'> = {}): Promise<number[]> {
  return (await all(model, 'rerank', pairs.map(([text, pair]) => ({ text, pair })), options)).map((r) => r.score);
}

export interface Ranked {
  /** The document's position in the list given. */
  corpusId: number;
  score: number;
  text?: string;
}

/**
 * Documents ranked for a query by a cross-encoder, best first (ties keep input order), as CrossEncoder.rank:
 * `topK` keeps the best k, `returnDocuments` adds each document's text.
 */
export async function rerank(model: ModelRef, query: string, documents: string[], options: CallOptions<'rerank'> & { topK?: number; returnDocuments?: boolean } = {}): Promise<Ranked[]> {
  const scores = await scorePairs(model, documents.map((d) => [query, d] as const), options);
  const ranked = scores.map((score, corpusId): Ranked => (options.returnDocuments ? { corpusId, score, text: documents[corpusId] } : { corpusId, score }));
  return ranked.sort((a, b) => b.score - a.score).slice(0, options.topK ?? ranked.length);
}

/** Zero-shot classification into `candidateLabels` with an NLI model; labels best first. */
export function zeroShot(model: ModelRef, list: string[], candidateLabels: string[], options: CallOptions<'zero-shot'> = {}) {
  return all(model, 'zero-shot', texts(list), { ...options, head: { ...options.head, candidateLabels } });
}

export async function extractEntities(model: ModelRef, list: string[], options: CallOptions<'ner'> = {}): Promise<Entity[][]> {
  return (await all(model, 'ner', texts(list), options)).map((r) => r.entities);
}

export async function answer(model: ModelRef, question: string, context: string, options: CallOptions<'qa'> = {}): Promise<QaResult> {
  return (await all(model, 'qa', [{ text: question, pair: context }], options))[0];
}

export async function fillMask(model: ModelRef, list: string[], options: CallOptions<'fill-mask'> = {}): Promise<FillMaskPrediction[][][]> {
  return (await all(model, 'fill-mask', texts(list), options)).map((r) => r.masks);
}

/**
 * Continuations of prompts, batched. A prompt given as messages is a conversation answered through the model's
 * chat template, as is every prompt when `head.messages` (fixed turns before each prompt, `[]` for none) is set.
 * @example generate(model, ['Name a colour.'], { head: { messages: [{ role: 'system', content: 'Answer in one word.' }] } })
 */
export async function generate(model: ModelRef, prompts: (string | readonly ChatMessage[])[], options: CallOptions<'generate'> = {}): Promise<GenerationResult[]> {
  return all(model, 'generate', prompts.map((p) => (typeof p === 'string' ? { text: p } : conversation(p))), options);
}

function conversation(messages: readonly ChatMessage[]): { text: string; messages: ChatMessage[] } {
  if (!messages.length) throw new TaskError('generate: a conversation needs at least one message');
  return { text: messages[messages.length - 1].content, messages: [...messages] };
}

export function translate(model: ModelRef, list: string[], options: CallOptions<'translate'> = {}): Promise<GenerationResult[]> {
  return all(model, 'translate', texts(list), options);
}

export function summarize(model: ModelRef, list: string[], options: CallOptions<'summarize'> = {}): Promise<GenerationResult[]> {
  return all(model, 'summarize', texts(list), options);
}

/**
 * Tokens of one prompt as they are produced, with text deltas that never split a character; unsubscribing
 * stops generation (greedy or sampled; beams are for the batch functions).
 */
export function generateStream(model: ModelRef, prompt: string, options: CallOptions<'generate'> = {}): Observable<TokenEvent> {
  const { tokenizer, decoder } = mergeTaskOptions(options);
  return promptStream(resolveModel(model, options.dtype), prompt, tokenizer, decoder);
}

/**
 * The assistant's answer to a conversation (system/user/assistant messages), rendered with the model's chat
 * template, as it is produced (an Observable of tokens with text deltas; unsubscribing stops generation).
 * @example chatStream('models/qwen2.5-0.5b-instruct', [{ role: 'user', content: 'Hi!' }]).subscribe((e) => process.stdout.write(e.text))
 */
export function chatStream(model: ModelRef, messages: readonly ChatMessage[], options: CallOptions<'generate'> = {}): Observable<TokenEvent> {
  return conversationStream(resolveModel(model, options.dtype), messages, mergeTaskOptions(options).decoder);
}

/** The same answer as an AsyncIterable of text pieces: `for await (const piece of chatText(model, messages))`. */
export async function* chatText(model: ModelRef, messages: readonly ChatMessage[], options: CallOptions<'generate'> = {}): AsyncIterable<string> {
  const pieces: string[] = [];
  let done = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const subscription = chatStream(model, messages, options).subscribe({
    next: (e) => { pieces.push(e.text); wake?.(); },
    error: (e) => { failure = e; done = true; wake?.(); },
    complete: () => { done = true; wake?.(); },
  });
  try {
    for (;;) {
      while (pieces.length) yield pieces.shift()!;
      if (failure) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    subscription.unsubscribe();
  }
}

/** The whole answer to a conversation, with its token ids. */
export async function chat(model: ModelRef, messages: readonly ChatMessage[], options: CallOptions<'generate'> = {}): Promise<GenerationResult> {
  const events = await lastValueFrom(chatStream(model, messages, options).pipe(toArray()));
  return { generated: events.map((e) => e.text).join(''), tokens: events.map((e) => e.token).filter((t) => t >= 0) };
}
