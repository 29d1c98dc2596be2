import type { EncoderResult, LoadedModel } from '@attnflow/models';
import type { BatchEncoding } from '@attnflow/tokenizer';
import { concatMap, from, mergeMap, type OperatorFunction } from 'rxjs';
import { batchRecords, inOrder, type BatchingOptions } from './batching.js';
import { checkTask, runTaskBatch, sentenceEmbeddings, type HeadOptions, type TaskName, type TaskOptions, type TaskResults, type TextRecord } from './tasks/index.js';

type Encoder = Extract<LoadedModel, { kind: 'encoder' }>;

/** A batch after the encoder: the model, the batch's encoding and the model's outputs. */
export interface EncodedBatch {
  model: Encoder;
  encoding: BatchEncoding;
  output: EncoderResult;
}

/**
 * Stage: padded batches → encoder outputs (embeddings + encoder stack + the checkpoint's head).
 * @example from(texts).pipe(tokenize(tok), encode(model), poolEmbeddings())
 */
export function encode(model: Encoder, options: { outputAttentions?: boolean; outputHiddenStates?: boolean } = {}): OperatorFunction<BatchEncoding, EncodedBatch> {
  return concatMap(async (encoding) => ({ model, encoding, output: await model.model.forward(encoding, options) }));
}

/** Stage: encoder outputs → one sentence embedding per text (the model's pooling unless `head` says otherwise). */
export function poolEmbeddings(head: HeadOptions['embed'] = {}): OperatorFunction<EncodedBatch, Float32Array> {
  return mergeMap(({ model, encoding, output }) => from(sentenceEmbeddings(model, encoding, output, head)));
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
  model: LoadedModel, name: N, options: TaskOptions<N>, batching: BatchingOptions = {}, firstIndex = 0,
): OperatorFunction<TextRecord, TaskResult<TaskResults[N]>> {
  checkTask(model, name, options);
  return (source) =>
    source.pipe(
      batchRecords(batching),
      concatMap(async (records) => {
        const out = await runTaskBatch(model, name, records, options);
        return records.map((record, i): TaskResult<TaskResults[N]> => ({ record, result: out.results[i], tokens: i === 0 ? out.tokens : 0 }));
      }),
      mergeMap((rows) => from(rows)),
      inOrder((r) => r.record.index, firstIndex),
    );
}
