import { bufferCount, map, type OperatorFunction } from 'rxjs';
import type { BatchEncoding, BatchOptions, Tokenizer } from './tokenizer.js';

export interface TokenizeOptions extends BatchOptions {
  /** Texts per batch (default 32). */
  batchSize?: number;
}

/**
 * RxJS stage: texts (or [text, pair] tuples) in, padded batches out. Each batch is padded to its own longest
 * text, not to a global maximum.
 *
 * @example
 * from(['Hello world', 'Attention is all you need']).pipe(tokenize(tokenizer, { batchSize: 16 }))
 */
export function tokenize(tokenizer: Tokenizer, options: TokenizeOptions = {}): OperatorFunction<string | [string, string], BatchEncoding> {
  const { batchSize = 32, ...batchOptions } = options;
  return (source) => source.pipe(bufferCount(batchSize), map((texts) => tokenizer.encodeBatch(texts, batchOptions)));
}
