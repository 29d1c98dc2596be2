import type { LoadedModel } from '@attnflow/models';
import { runTaskBatch, type TaskName, type TaskOptions, type TaskResults, type TextRecord } from '../tasks/index.js';

export interface BatchRow {
  record: TextRecord;
  result?: TaskResults[TaskName];
  error?: string;
  tokens: number;
}

/**
 * Runs a batch; if it fails, runs its records one by one so that one bad record (say, too long with
 * truncation off) is dead-lettered with its reason and the others still produce output.
 */
export async function runIsolating<N extends TaskName>(model: LoadedModel, job: { task: N; options: TaskOptions<N> }, batch: TextRecord[]): Promise<BatchRow[]> {
  try {
    const out = await runTaskBatch(model, job.task, batch, job.options);
    return batch.map((record, i) => ({ record, result: out.results[i], tokens: i === 0 ? out.tokens : 0 }));
  } catch (e) {
    if (batch.length === 1) return [{ record: batch[0], result: undefined, error: (e as Error).message, tokens: 0 }];
    const rows: BatchRow[] = [];
    for (const record of batch) rows.push(...(await runIsolating(model, job, [record])));
    return rows;
  }
}
