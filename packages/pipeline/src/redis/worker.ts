import type { LoadedModel } from '@attnflow/models';
import { concatMap, filter, from, lastValueFrom, map, merge, share } from 'rxjs';
import { batchRecords } from '../batching.js';
import { runIsolating, type BatchRow } from '../job/isolation.js';
import { embeddingWidth, resultFields } from '../outputs.js';
import { PooledModel } from '../pipeline.js';
import { pipelineBaseDir, readPipelineFile, validatePipeline, workerFromSpec, type PipelineSpec, type WorkerConfig } from '../pipelineFile.js';
import { checkTask, type TextRecord } from '../tasks/index.js';
import { FileStreamSink } from './fileSink.js';
import { arrowFormat, jsonlFormat } from './partFormat.js';
import { RedisStreamSink, type StreamOutput, type StreamSink } from './sink.js';
import { RedisStreamSource, type StreamRecord } from './source.js';

/** A worker's throughput and the state of its group, as the health line and the metrics endpoint show them. */
export interface WorkerCounters {
  consumer: string;
  /** Records committed (written or found already written) and acknowledged. */
  records: number;
  ok: number;
  /** Records sent to the dead-letter stream. */
  failed: number;
  tokens: number;
  /** Records this worker received that the group had delivered before (claimed from a stopped worker). */
  redeliveries: number;
  /** Committed records whose result another delivery had already written (not written again). */
  duplicates: number;
  /** Entries the whole group has delivered and not acknowledged, at the last health check. */
  pending: number;
  /** Records read and not yet acknowledged by this worker. */
  inFlight: number;
  seconds: number;
}

/** Counters of a worker that has done nothing yet. */
export const emptyCounters = (consumer: string): WorkerCounters => ({ consumer, records: 0, ok: 0, failed: 0, tokens: 0, redeliveries: 0, duplicates: 0, pending: 0, inFlight: 0, seconds: 0 });

export interface WorkerOptions {
  /** Stops reading; what is in flight is finished, written and acknowledged, then the worker returns (SIGTERM). */
  signal?: AbortSignal;
  /** Called with the counters every healthMs (the final ones are what runWorker returns). */
  onHealth?: (counters: WorkerCounters) => void;
  /** Default 10000. */
  healthMs?: number;
}

/** Records read ahead per batch slot before the worker stops reading (as runJob's flow control). */
const MAX_IN_FLIGHT_FACTOR = 4;

/**
 * Serves a stream until stopped: read (own pending, claimed, new) → batches → task → write once by source id →
 * acknowledge. An entry is acknowledged only after its result or dead letter is durably written and marked in
 * Redis, so a worker killed at any point loses nothing: its unacknowledged entries are claimed by another worker
 * after claimIdleMs, and the sink's ids hash keeps a record that is run twice from being written twice.
 */
export async function runWorker(model: LoadedModel, cfg: WorkerConfig, options: WorkerOptions = {}): Promise<WorkerCounters> {
  checkTask(model, cfg.task, cfg.options);
  const source = await RedisStreamSource.open(cfg.source);
  const includeText = cfg.sink.includeText ?? true;
  const sink: StreamSink = await (cfg.sink.type === 'redis'
    ? RedisStreamSink.open(cfg.sink, source.settings.url)
    : FileStreamSink.open(cfg.sink, source.settings, cfg.sink.type === 'arrow' ? arrowFormat(cfg.task, includeText, embeddingWidth(model)) : jsonlFormat)
  ).catch((e: unknown) => {
    source.close();
    throw e;
  });
  const started = performance.now();
  const counters = emptyCounters(source.settings.consumer);
  const snapshot = (): WorkerCounters => ({ ...counters, redeliveries: source.redeliveries, seconds: (performance.now() - started) / 1000 });
  const limit = MAX_IN_FLIGHT_FACTOR * Math.max(cfg.batching.batchSize ?? 32, cfg.batching.bucketWindow ?? 0) + source.settings.count;
  const stopped = () => options.signal?.aborted === true;
  let wake: (() => void) | undefined;
  options.signal?.addEventListener('abort', () => wake?.());

  // Reads whole `count`s while they fit under `limit` records in flight; a stop ends the stream after the read under
  // way. Reading a few records each time a batch commits would fill the length-sorting window slowly, so it would be
  // cut by maxWaitMs into short mixed-length windows and pad more (measured: half the throughput).
  // Records get a local sequence number: batching orders by it, and it maps a result back to its entry.
  async function* reading(): AsyncGenerator<StreamRecord & { seq: number }> {
    let seq = 0;
    while (!stopped()) {
      if (limit - counters.inFlight < source.settings.count) {
        await new Promise<void>((res) => (wake = res));
        continue;
      }
      const batch = await source.next(source.settings.count);
      counters.inFlight += batch.length;
      for (const r of batch) yield { ...r, seq: seq++ };
    }
  }
  const records$ = from(reading()).pipe(share());

  const bySeq = new Map<number, StreamRecord>();
  // Dead letters always carry their texts, so they can be fixed and sent again.
  const texts = (r: StreamRecord) => ({ text: r.text, ...(r.pair === undefined ? {} : { pair: r.pair }) });
  const output = (r: StreamRecord, row: Pick<BatchRow, 'result' | 'error'>): StreamOutput =>
    row.error !== undefined
      ? { id: r.id, error: row.error, record: { id: r.id, error: row.error, ...texts(r) }, text: r.text }
      : { id: r.id, record: { id: r.id, ...(includeText ? texts(r) : {}), ...resultFields(row.result) }, text: r.text, result: row.result };
  const failures$ = records$.pipe(
    filter((r) => r.error !== undefined),
    map((r) => [{ out: output(r, { error: r.error }), tokens: 0 }]),
  );
  const results$ = records$.pipe(
    filter((r) => r.error === undefined),
    map((r): TextRecord => {
      bySeq.set(r.seq, r);
      return { index: r.seq, text: r.text, pair: r.pair };
    }),
    batchRecords(cfg.batching),
    concatMap((batch) => runIsolating(model, cfg, batch)),
    map((rows) =>
      rows.map((row) => {
        const r = bySeq.get(row.record.index)!;
        bySeq.delete(row.record.index);
        return { out: output(r, row), tokens: row.tokens };
      }),
    ),
  );

  const commit = async (rows: { out: StreamOutput; tokens: number }[]) => {
    const written = await sink.write(rows.map((r) => r.out));
    await source.ack(rows.map((r) => r.out.id));
    const failed = rows.filter((r) => r.out.error !== undefined).length;
    counters.records += rows.length;
    counters.failed += failed;
    counters.ok += rows.length - failed;
    counters.duplicates += rows.length - written;
    counters.tokens += rows.reduce((n, r) => n + r.tokens, 0);
    counters.inFlight -= rows.length;
    wake?.();
  };

  const health = async () => {
    counters.pending = await source.pending();
    options.onHealth?.(snapshot());
  };
  const timer = setInterval(() => void health().catch(() => undefined), options.healthMs ?? 10_000);
  try {
    await lastValueFrom(merge(failures$, results$).pipe(concatMap(commit)), { defaultValue: undefined });
    counters.pending = await source.pending();
  } finally {
    clearInterval(timer);
    source.close();
    await sink.close();
  }
  return snapshot();
}

/** A pipeline of a redis source and sink with its model: `serve` runs until its signal stops it, `close` frees the model. */
export class StreamWorker extends PooledModel {
  constructor(readonly spec: PipelineSpec, readonly config: WorkerConfig) {
    // `spec.workers` and `spec.dtype` are read when the model is first needed, so CLI flags may still change them.
    super(config.model, () => spec);
  }

  serve(options: WorkerOptions = {}): Promise<WorkerCounters> {
    return runWorker(this.get(), this.config, options);
  }
}

/** A stream worker from a pipeline file; relative paths in it are relative to the file. */
export function workerFromFile(file: string): StreamWorker {
  const spec = readPipelineFile(file);
  return new StreamWorker(spec, workerFromSpec(spec, pipelineBaseDir(file)));
}

/** A stream worker from an object of the pipeline file's shape; relative paths resolve against baseDir. */
export function workerFromObject(spec: unknown, baseDir = process.cwd()): StreamWorker {
  const valid = validatePipeline(spec);
  return new StreamWorker(valid, workerFromSpec(valid, baseDir));
}
