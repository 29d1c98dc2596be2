import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, ftruncateSync, writeSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import { RecordBatchFileWriter, RecordBatchReader, RecordBatchStreamWriter, tableFromIPC, tableToIPC, type Table } from 'apache-arrow';
import type { LoadedModel } from '@attnflow/models';
import { concatMap, filter, from, lastValueFrom, merge, mergeMap, Observable, share, tap } from 'rxjs';
import { batchRecords, type BatchingOptions } from './batching.js';
import { arrowTable, deadLetterRecord, jsonRecord, type OutputRow } from './outputs.js';
import { createProgress, type Progress } from './progress.js';
import { readSource, sourceBytes, type SourceConfig, type SourceRecord } from './sources.js';
import { checkTask, runTaskBatch, type TaskName, type TaskOptions, type TaskResults, type TextRecord } from './tasks/index.js';

export interface SinkConfig {
  type: 'jsonl' | 'arrow' | 'stdout';
  path?: string;
  /** Where bad records go (JSONL with the reason). Default: next to the output, `<output>.dead-letter.jsonl`. */
  deadLetter?: string;
  /** Copy the input text into the output (default true). */
  includeText?: boolean;
}

export interface JobConfig<N extends TaskName = TaskName> {
  model: string;
  task: N;
  source: SourceConfig;
  sink: SinkConfig;
  /** Options of the task's stages (from the pipeline file's `stages`, or CLI flags). */
  options: TaskOptions<N>;
  batching: BatchingOptions;
}

export interface RunOptions {
  /** Continue from the checkpoint a killed or interrupted run left. */
  resume?: boolean;
  /** Replace outputs of an earlier run. */
  overwrite?: boolean;
  /** Process only records with index % count === index (0-based). */
  shard?: { index: number; count: number };
  progress?: Progress | false;
  /** Stops reading; what is done is committed and checkpointed (Ctrl-C). */
  signal?: AbortSignal;
  /** Records per commit: output is written and checkpointed in chunks of this many (default 256). */
  chunkSize?: number;
}

export interface JobSummary {
  records: number;
  ok: number;
  failed: number;
  tokens: number;
  seconds: number;
  output?: string;
  deadLetter?: string;
  /** True when stopped early (signal); a checkpoint remains for --resume. */
  interrupted: boolean;
  /** --resume found the run already finished (output there, checkpoint removed): nothing was run. */
  alreadyComplete?: boolean;
}

interface Checkpoint {
  version: 1;
  fingerprint: string;
  /** Records (of this shard, in order) whose output is written. */
  committed: number;
  ok: number;
  failed: number;
  tokens: number;
  outputBytes: number;
  deadLetterBytes: number;
  parts: number;
}

export class JobError extends Error {
  override name = 'JobError';
}

const MAX_IN_FLIGHT_FACTOR = 4;

/** Output file paths a job writes, derived once. */
function paths(sink: SinkConfig) {
  if (sink.type === 'stdout') return { output: undefined, deadLetter: sink.deadLetter, checkpoint: undefined, parts: undefined };
  if (!sink.path) throw new JobError(`a ${sink.type} sink needs a "path"`);
  return {
    output: sink.path,
    deadLetter: sink.deadLetter ?? `${sink.path}.dead-letter.jsonl`,
    checkpoint: `${sink.path}.checkpoint.json`,
    parts: sink.type === 'arrow' ? `${sink.path}.parts` : undefined,
  };
}

function fingerprint(cfg: JobConfig, shard: RunOptions['shard']): string {
  return createHash('sha256').update(JSON.stringify({ model: cfg.model, task: cfg.task, source: cfg.source, sink: cfg.sink, options: cfg.options, shard })).digest('hex').slice(0, 16);
}

/** Appends to a file with fsync on commit; on resume it first cuts the file back to the committed length. */
class DurableFile {
  private fd: number;
  bytes: number;
  constructor(readonly path: string, keepBytes: number) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, existsSync(path) ? 'r+' : 'w+');
    ftruncateSync(this.fd, keepBytes);
    this.bytes = keepBytes;
  }
  append(text: string): void {
    if (!text) return;
    const buf = Buffer.from(text);
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, this.bytes + done);
    this.bytes += buf.length;
  }
  sync(): void {
    fsyncSync(this.fd);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Writes a whole file and fsyncs it before returning. */
function writeDurably(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  fsyncSync(fd);
  closeSync(fd);
}

/** Replaces a file so that a reader sees the old or the new content, never a torn one. */
function writeAtomically(path: string, text: string): void {
  writeDurably(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** The i-th committed record batch of an Arrow sink. */
const partFile = (dir: string, i: number) => join(dir, `part-${String(i).padStart(8, '0')}.arrows`);

/**
 * Runs a job: source → shard → (skip what a previous run committed) → batches → task → output in input
 * order. Output is committed in fixed chunks of records, each followed by an fsync and an atomic checkpoint,
 * so a run killed at any point (even SIGKILL) resumes to exactly the output an uninterrupted run writes:
 * chunks depend only on record order, and each record's numbers do not depend on its batch.
 */
/** Newlines in a file, read in 1 MiB pieces (outputs can be far larger than memory should hold). */
function countLines(path: string): number {
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(1 << 20);
  let lines = 0;
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) {
      for (let at = buffer.indexOf(0x0a); at >= 0 && at < n; at = buffer.indexOf(0x0a, at + 1)) lines++;
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}

async function arrowRows(path: string): Promise<number> {
  let rows = 0;
  for await (const batch of await RecordBatchReader.from(createReadStream(path))) rows += batch.numRows;
  return rows;
}

async function finishedRun(output: string, deadLetter: string | undefined, sinkType: string): Promise<JobSummary> {
  const ok = sinkType === 'arrow' ? await arrowRows(output) : countLines(output);
  const failed = deadLetter && existsSync(deadLetter) ? countLines(deadLetter) : 0;
  return { records: ok + failed, ok, failed, tokens: 0, seconds: 0, output, deadLetter: failed ? deadLetter : undefined, interrupted: false, alreadyComplete: true };
}

export async function runJob(model: LoadedModel, cfg: JobConfig, run: RunOptions = {}): Promise<JobSummary> {
  checkTask(model, cfg.task, cfg.options);
  const p = paths(cfg.sink);
  if (run.resume && !p.checkpoint) throw new JobError('--resume needs a file sink (jsonl or arrow), not stdout');
  const chunkSize = run.chunkSize ?? 256;
  const fp = fingerprint(cfg, run.shard);
  let ck: Checkpoint = { version: 1, fingerprint: fp, committed: 0, ok: 0, failed: 0, tokens: 0, outputBytes: 0, deadLetterBytes: 0, parts: 0 };
  // A run removes its checkpoint as its very last step, so a kill after that (while the process exits) leaves a
  // finished output and no checkpoint: --resume then has nothing to do, and says so with the finished run's counts.
  if (run.resume && p.checkpoint && !existsSync(p.checkpoint) && p.output && existsSync(p.output)) return await finishedRun(p.output, p.deadLetter, cfg.sink.type);
  if (p.checkpoint && existsSync(p.checkpoint) && run.resume) {
    const saved = JSON.parse(readFileSync(p.checkpoint, 'utf8')) as Checkpoint;
    if (saved.fingerprint !== fp) throw new JobError(`${p.checkpoint}: written by a run with another pipeline (model, task, source, sink, options or shard changed); use --overwrite to start again`);
    ck = saved;
  } else if (p.output && !run.overwrite && (existsSync(p.output) || (p.checkpoint && existsSync(p.checkpoint)))) {
    throw new JobError(`${p.output} already exists${p.checkpoint && existsSync(p.checkpoint) ? ' with an unfinished checkpoint: pass --resume to continue that run' : ''}; pass --overwrite to replace it`);
  }
  if (!run.resume && p.parts) rmSync(p.parts, { recursive: true, force: true });
  const resumed = ck.committed;

  const includeText = cfg.sink.includeText ?? true;
  const out = p.output && cfg.sink.type === 'jsonl' ? new DurableFile(p.output, ck.outputBytes) : undefined;
  const dead = p.deadLetter ? new DurableFile(p.deadLetter, ck.deadLetterBytes) : undefined;
  if (p.parts) {
    mkdirSync(p.parts, { recursive: true });
    // Parts written after the last checkpoint (a kill between part and checkpoint) are not part of the output.
    const committed = new Set(Array.from({ length: ck.parts }, (_, i) => partFile(p.parts!, i)));
    for (const name of readdirSync(p.parts)) if (!committed.has(join(p.parts, name))) rmSync(join(p.parts, name));
  }
  // A checkpoint exists before any output does, so a run killed before its first commit still resumes.
  if (p.checkpoint) writeAtomically(p.checkpoint, JSON.stringify(ck));
  const dim = model.kind === 'encoder' ? model.model.recipe.hiddenSize : 0;
  const progress = run.progress === false ? undefined : run.progress ?? createProgress();
  const totalBytes = sourceBytes(cfg.source);
  const started = performance.now();
  let bytesSeen = 0;

  // Flow control: the source is read only while fewer than `limit` records are in flight.
  const limit = MAX_IN_FLIGHT_FACTOR * Math.max(cfg.batching.batchSize ?? 32, cfg.batching.bucketWindow ?? 0) + chunkSize;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const release = (n: number) => {
    inFlight -= n;
    wake?.();
  };
  const stopped = () => run.signal?.aborted === true;

  const records$ = new Observable<SourceRecord & { seq: number }>((subscriber) => {
    let cancelled = false;
    (async () => {
      let seq = 0;
      for await (const r of readSource(cfg.source)) {
        if (cancelled || stopped()) break;
        bytesSeen += Buffer.byteLength(r.text) + 1;
        if (run.shard && r.index % run.shard.count !== run.shard.index) continue;
        const s = seq++;
        if (s < resumed) continue;
        while (inFlight >= limit && !cancelled && !stopped()) await new Promise<void>((res) => (wake = res));
        if (cancelled || stopped()) break;
        inFlight++;
        subscriber.next({ ...r, seq: s });
      }
      subscriber.complete();
    })().catch((e) => subscriber.error(e));
    return () => {
      cancelled = true;
      wake?.();
    };
  }).pipe(share());

  const rowOf = (r: SourceRecord, extra: Partial<OutputRow>): OutputRow => ({ index: r.index, file: r.file, line: r.line, text: r.text, pair: r.pair, ...extra });
  const bySeq = new Map<number, SourceRecord & { seq: number }>();
  const failures$ = records$.pipe(filter((r) => r.error !== undefined), mergeMap((r) => from([{ seq: r.seq, row: rowOf(r, { error: r.error }), tokens: 0 }])));
  const results$ = records$.pipe(
    filter((r) => r.error === undefined),
    tap((r) => bySeq.set(r.seq, r)),
    mergeMap((r) => from([{ index: r.seq, text: r.text, pair: r.pair, source: { file: r.file, line: r.line } } satisfies TextRecord])),
    batchRecords(cfg.batching),
    concatMap(async (batch) => runIsolating(model, cfg, batch)),
    mergeMap((rows) => from(rows)),
    mergeMap(({ record, result, error, tokens }) => {
      const src = bySeq.get(record.index)!;
      bySeq.delete(record.index);
      return from([{ seq: record.index, row: rowOf(src, error ? { error } : { result }), tokens }]);
    }),
  );

  // Commit in record order, a chunk at a time.
  const done = new Map<number, { row: OutputRow; tokens: number }>();
  let next = resumed;
  let chunk: OutputRow[] = [];
  let chunkTokens = 0;
  const commit = () => {
    const good = chunk.filter((r) => !r.error);
    const bad = chunk.filter((r) => r.error);
    if (cfg.sink.type === 'stdout') for (const r of good) process.stdout.write(`${JSON.stringify(jsonRecord(r, includeText))}\n`);
    out?.append(good.map((r) => `${JSON.stringify(jsonRecord(r, includeText))}\n`).join(''));
    dead?.append(bad.map((r) => `${JSON.stringify(deadLetterRecord(r))}\n`).join(''));
    if (p.parts && good.length) {
      writeDurably(partFile(p.parts, ck.parts), RecordBatchStreamWriter.writeAll(arrowTable(cfg.task, good, includeText, dim)).toUint8Array(true));
      ck.parts++;
    }
    out?.sync();
    dead?.sync();
    ck.committed += chunk.length;
    ck.ok += good.length;
    ck.failed += bad.length;
    ck.tokens += chunkTokens;
    ck.outputBytes = out?.bytes ?? 0;
    ck.deadLetterBytes = dead?.bytes ?? 0;
    if (p.checkpoint) writeAtomically(p.checkpoint, JSON.stringify(ck));
    release(chunk.length);
    chunk = [];
    chunkTokens = 0;
  };
  const state = () => ({ records: ck.committed + chunk.length, failed: ck.failed, tokens: ck.tokens + chunkTokens, bytes: bytesSeen, totalBytes });

  await lastValueFrom(
    merge(failures$, results$).pipe(
      tap(({ seq, row, tokens }) => {
        done.set(seq, { row, tokens });
        while (done.has(next)) {
          const d = done.get(next)!;
          done.delete(next);
          next++;
          chunk.push(d.row);
          chunkTokens += d.tokens;
          if (chunk.length === chunkSize) commit();
        }
        progress?.update(state());
      }),
    ),
    { defaultValue: undefined },
  );
  const interrupted = stopped();
  // A partial last chunk is committed only at the real end, so chunk boundaries never depend on a stop.
  if (!interrupted && chunk.length) commit();
  out?.close();
  dead?.close();
  if (!interrupted) {
    if (p.parts && p.output) await combineParts(p.parts, p.output, ck.parts, () => arrowTable(cfg.task, [], includeText, dim));
    if (p.checkpoint) rmSync(p.checkpoint, { force: true });
  }
  const summary: JobSummary = {
    records: ck.committed, ok: ck.ok, failed: ck.failed, tokens: ck.tokens, seconds: (performance.now() - started) / 1000,
    output: p.output, deadLetter: ck.failed ? p.deadLetter : undefined, interrupted,
  };
  progress?.done(state());
  if (dead && ck.failed === 0 && !interrupted && p.deadLetter && statSync(p.deadLetter).size === 0) rmSync(p.deadLetter);
  return summary;
}

/**
 * Runs a batch; if it fails, runs its records one by one so that one bad record (say, too long with
 * truncation off) is dead-lettered with its reason and the others still produce output.
 */
export interface BatchRow {
  record: TextRecord;
  result?: TaskResults[TaskName];
  error?: string;
  tokens: number;
}

export async function runIsolating(model: LoadedModel, job: Pick<JobConfig, 'task' | 'options'>, batch: TextRecord[]): Promise<BatchRow[]> {
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

/** Joins the committed record batches into one Arrow IPC file (the format pyarrow.ipc.open_file reads). */
async function combineParts(dir: string, output: string, count: number, empty: () => Table): Promise<void> {
  const tmp = `${output}.tmp`;
  if (count === 0) writeFileSync(tmp, tableToIPC(empty(), 'file'));
  else {
    const writer = new RecordBatchFileWriter();
    const written = pipeStreams(writer.toNodeStream(), createWriteStream(tmp));
    for (let i = 0; i < count; i++) {
      for (const batch of tableFromIPC(readFileSync(partFile(dir, i))).batches) writer.write(batch);
    }
    writer.finish();
    await written;
  }
  renameSync(tmp, output);
  rmSync(dir, { recursive: true, force: true });
}
