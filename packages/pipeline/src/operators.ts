import type { EncoderResult, LoadedModel } from '@attnflow/models';
import { l2Normalize, pool, type PoolingMode } from '@attnflow/head';
import type { BatchEncoding } from '@attnflow/tokenizer';
import { concatMap, from, mergeMap, type OperatorFunction } from 'rxjs';
import { TASKS, type TaskName, type TextRecord } from './tasks/index.js';
import { batchRecords, inOrder, type BatchingOptions } from './batching.js';

/** A batch after the encoder: its encoding and the model's outputs. */
export interface EncodedBatch {
  encoding: BatchEncoding;
  output: EncoderResult;
}

/**
 * Stage: padded batches → encoder outputs (embeddings + encoder stack + the checkpoint's head).
 * @example from(texts).pipe(tokenize(tok), encode(model), poolEmbeddings())
 */
export function encode(model: Extract<LoadedModel, { kind: 'encoder' }>, options: { outputAttentions?: boolean; outputHiddenStates?: boolean } = {}): OperatorFunction<BatchEncoding, EncodedBatch> {
  return concatMap(async (encoding) => ({ encoding, output: await model.model.forward(encoding, options) }));
}

/** Stage: encoder outputs → one sentence embedding per text (mean/cls/max pooling, optional L2 normalisation). */
export function poolEmbeddings(options: { pooling?: PoolingMode; normalize?: boolean } = {}): OperatorFunction<EncodedBatch, Float32Array> {
  return mergeMap(({ encoding, output }) => {
    const H = output.hiddenSize;
    const pooled = pool(options.pooling ?? 'mean', output.lastHiddenState, encoding.attentionMask, encoding.batch, encoding.length, H);
    if (options.normalize ?? true) l2Normalize(pooled, H);
    return from(Array.from({ length: encoding.batch }, (_, i) => pooled.slice(i * H, (i + 1) * H)));
  });
}

export interface TaskResult<R = unknown> {
  record: TextRecord;
  result: R;
  /** Tokens of the batch, counted on its first record (for throughput). */
  tokens: number;
}

/**
 * The whole path for one task: records → length-bucketed batches → the task's model run → one result per
 * record, in input order (records must arrive with consecutive indices starting at `firstIndex`). Batches
 * run one at a time — the worker pool parallelises inside a batch — so a slow model holds back the source.
 */
export function runTask<N extends TaskName>(
  model: LoadedModel, name: N, options: Parameters<(typeof TASKS)[N]['run']>[2] & BatchingOptions = {} as never, firstIndex = 0,
): OperatorFunction<TextRecord, TaskResult> {
  const task = TASKS[name];
  return (source) =>
    source.pipe(
      batchRecords(options),
      concatMap(async (records) => {
        const out = await task.run(model, records, options as never);
        return records.map((record, i): TaskResult => ({ record, result: out.results[i], tokens: i === 0 ? out.tokens : 0 }));
      }),
      mergeMap((rows) => from(rows)),
      inOrder((r) => r.record.index, firstIndex),
    );
}
