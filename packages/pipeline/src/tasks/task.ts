import type { LoadedModel } from '@attnflow/models';

/** One unit of input: a text (and for QA / pairs, a second text), with its place in the source. */
export interface TextRecord {
  /** Position in the input (0-based), which is also the output order. */
  index: number;
  text: string;
  /** Second text: the context for question answering, or a pair's second sentence. */
  pair?: string;
  /** Where it came from, for error messages and output columns (file, line). */
  source?: { file: string; line: number };
}

export interface TaskOutput<R> {
  results: R[];
  /** Tokens processed (for tokens/s). */
  tokens: number;
}

/** A task runs a batch of records through a loaded model and returns one result per record, in order. */
export interface Task<O, R> {
  name: string;
  /** Which model kinds it needs, to fail before any work with a clear message. */
  kinds: LoadedModel['kind'][];
  run(model: LoadedModel, records: TextRecord[], options: O): Promise<TaskOutput<R>>;
}

export class TaskError extends Error {
  override name = 'TaskError';
}

export function requireKind<K extends LoadedModel['kind']>(model: LoadedModel, task: string, kinds: K[]): Extract<LoadedModel, { kind: K }> {
  if (!kinds.includes(model.kind as K)) {
    throw new TaskError(`task "${task}" needs ${kinds.map((k) => `an ${k} model`).join(' or ')}; ${model.dir} is ${model.kind === 'encoder' ? 'an encoder' : model.kind === 'causal' ? 'a causal language model' : 'an encoder-decoder'} (${model.config.architecture})`);
  }
  return model as Extract<LoadedModel, { kind: K }>;
}

export interface EncodeOptions {
  /** Truncate inputs to this many tokens (default: the model's maximum positions). */
  maxLength?: number;
  /** false: an input longer than maxLength is an error (dead-lettered in jobs) instead of being cut. */
  truncation?: boolean;
}

export function countTokens(mask: Int32Array): number {
  let n = 0;
  for (const m of mask) n += m;
  return n;
}
