import type { LoadedModel } from '@attnflow/models';
import type { ChatMessage } from '@attnflow/tokenizer';
import type { TaskName, TaskOptions } from './options.js';

/** One unit of input: a text (and for QA / pairs, a second text), with its place in the source. */
export interface TextRecord {
  /** Position in the input (0-based), which is also the output order. */
  index: number;
  text: string;
  /** Second text: the context for question answering, or a pair's second sentence. */
  pair?: string;
  /** Generate with chat: the whole conversation this record is (its text is then the last message). */
  messages?: ChatMessage[];
  /** Where it came from, for error messages and output columns (file, line). */
  source?: { file: string; line: number };
}

export interface TaskOutput<R> {
  results: R[];
  /** Tokens processed (for tokens/s). */
  tokens: number;
}

/** A task runs a batch of records through a loaded model and returns one result per record, in order. */
export interface Task<N extends TaskName, R> {
  name: N;
  /** Which model kinds it needs, to fail before any work with a clear message. */
  kinds: LoadedModel['kind'][];
  run(model: LoadedModel, records: TextRecord[], options: TaskOptions<N>): Promise<TaskOutput<R>>;
  /** Options checked against the model once, before any record (throws a TaskError or ConfigError). */
  check?(model: LoadedModel, options: TaskOptions<N>): void;
}

export class TaskError extends Error {
  override name = 'TaskError';
}

const KIND_NAMES: Record<LoadedModel['kind'], string> = { encoder: 'an encoder', causal: 'a causal language model', seq2seq: 'an encoder-decoder' };

/** The one check that a model is of a kind a task can use (also narrows its type for the task's code). */
export function requireKind<K extends LoadedModel['kind']>(model: LoadedModel, task: string, kinds: K[]): Extract<LoadedModel, { kind: K }> {
  if (!kinds.includes(model.kind as K)) {
    throw new TaskError(`${model.dir} (${model.config.architecture}) cannot do "${task}": it is ${KIND_NAMES[model.kind]}, and ${task} needs ${kinds.map((k) => KIND_NAMES[k]).join(' or ')}`);
  }
  return model as Extract<LoadedModel, { kind: K }>;
}

export function countTokens(mask: Int32Array): number {
  let n = 0;
  for (const m of mask) n += m;
  return n;
}
