import { createHash } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import type { LoadedModel, ModelDType } from '@attnflow/models';
import { concatMap, filter, lastValueFrom, map, merge, mergeMap, tap } from 'rxjs';
import { batchRecords, type BatchingOptions } from './batching.js';
import { arrowTable, embeddingWidth, type OutputRow } from './outputs.js';
import { createProgress, type Progress } from './progress.js';
import { readSource, sourceBytes, sourcePaths, type SourceConfig, type SourceRecord } from './sources.js';
import { checkTask, type TaskName, type TaskOptions, type TextRecord } from './tasks/index.js';
import { checkCommitted, checkInputs, inputFiles, readCheckpoint, writeCheckpoint, type Checkpoint } from './job/checkpoint.js';
import { Committer, type Finished } from './job/commit.js';
import { DurableFile, JobError } from './job/durable.js';
import { finishedRun } from './job/finished.js';
import { flowControlled, type Sequenced } from './job/flow.js';
import { runIsolating } from './job/isolation.js';
import { OutputLock } from './job/lock.js';
import { ArrowParts } from './job/parts.js';
import { refuseSourceAsSink, sinkPaths, type SinkPaths } from './job/paths.js';

export { JobError } from './job/durable.js';

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

const MAX_IN_FLIGHT_FACTOR = 4;

function fingerprint(cfg: JobConfig, shard: RunOptions['shard'], dtype: ModelDType): string {
  // fp32 adds nothing, so checkpoints written before dtype existed still resume
  const computed = dtype === 'fp32' ? {} : { dtype };
  return createHash('sha256').update(JSON.stringify({ model: cfg.model, task: cfg.task, source: cfg.source, sink: cfg.sink, options: cfg.options, shard, ...computed })).digest('hex').slice(0, 16);
}

/**
 * Runs a job: source → shard → (skip what a previous run committed) → batches → task → output in input
 * order, committed in fixed chunks (see Committer), so a run killed at any point (even SIGKILL) resumes to
 * exactly the output an uninterrupted run writes. Everything that can refuse the job — the source, an output
 * that is also an input, another run holding the output, a checkpoint that does not match the files — is
 * checked before anything is written.
 */
export async function runJob(model: LoadedModel, cfg: JobConfig, run: RunOptions = {}): Promise<JobSummary> {
  checkTask(model, cfg.task, cfg.options);
  const p = sinkPaths(cfg.sink);
  if (run.resume && !p.checkpoint) throw new JobError('--resume needs a file sink (jsonl or arrow), not stdout');
  const inputs = sourcePaths(cfg.source);
  refuseSourceAsSink(inputs, p);
  const lock = p.output ? OutputLock.acquire(p.output) : undefined;
  try {
    return await runLocked(model, cfg, run, p, inputs);
  } finally {
    lock?.release();
  }
}

async function runLocked(model: LoadedModel, cfg: JobConfig, run: RunOptions, p: SinkPaths, inputs: string[]): Promise<JobSummary> {
  const fp = fingerprint(cfg, run.shard, model.dtype);
  const hasCheckpoint = p.checkpoint !== undefined && existsSync(p.checkpoint);
  // A run removes its checkpoint as its very last step, so a kill after that (while the process exits) leaves a
  // finished output and no checkpoint: --resume then has nothing to do, and says so with the finished run's counts.
  if (run.resume && !hasCheckpoint && p.output && existsSync(p.output)) return await finishedRun(p.output, p.deadLetter, cfg.sink.type);
  if (!run.resume && !run.overwrite && p.output && (existsSync(p.output) || hasCheckpoint)) {
    throw new JobError(`${p.output} already exists${hasCheckpoint ? ' with an unfinished checkpoint: pass --resume to continue that run' : ''}; pass --overwrite to replace it`);
  }
  const resuming = run.resume === true && hasCheckpoint;
  const ck: Checkpoint = resuming ? readCheckpoint(p.checkpoint!) : { version: 2, fingerprint: fp, committed: 0, ok: 0, failed: 0, tokens: 0, inputs: inputFiles(inputs), inputDigest: createHash('sha256').digest('hex') };
  if (resuming && ck.fingerprint !== fp) throw new JobError(`${p.checkpoint}: written by a run with another pipeline (model, task, source, sink, options or shard changed); use --overwrite to start again`);
  if (resuming) checkInputs(ck, inputFiles(inputs), p.checkpoint!);
  // Verified before any file is opened for writing; each check returns the hash to go on from.
  const jsonlPrefix = resuming && cfg.sink.type === 'jsonl' ? checkCommitted(p.output!, ck.output, ck.ok, 'records', p.checkpoint!) : undefined;
  const deadPrefix = resuming && p.deadLetter ? checkCommitted(p.deadLetter, ck.deadLetter, ck.failed, 'dead letters', p.checkpoint!) : undefined;
  const parts = p.parts ? (resuming ? ArrowParts.resume(p.parts, ck.parts, p.checkpoint!) : ArrowParts.start(p.parts)) : undefined;

  const created = !resuming;
  // A checkpoint exists before any output does, so a run killed before its first commit still resumes (and a
  // lone output without one is always a finished run).
  if (p.checkpoint) writeCheckpoint(p.checkpoint, ck);
  try {
    return await execute(model, cfg, run, p, ck, {
      jsonl: p.output && cfg.sink.type === 'jsonl' ? new DurableFile(p.output, jsonlPrefix && { bytes: ck.output?.bytes ?? 0, hash: jsonlPrefix.hash }) : undefined,
      deadLetter: p.deadLetter ? new DurableFile(p.deadLetter, deadPrefix && { bytes: ck.deadLetter?.bytes ?? 0, hash: deadPrefix.hash }) : undefined,
      parts,
    });
  } catch (e) {
    // A run that fails before its first commit leaves nothing behind that would make the retry need --resume.
    if (created && ck.committed === 0) for (const f of [p.output, p.deadLetter, p.checkpoint, p.parts]) if (f) rmSync(f, { recursive: true, force: true });
    throw e;
  }
}

async function execute(model: LoadedModel, cfg: JobConfig, run: RunOptions, p: SinkPaths, ck: Checkpoint, files: { jsonl?: DurableFile; deadLetter?: DurableFile; parts?: ArrowParts }): Promise<JobSummary> {
  const chunkSize = run.chunkSize ?? 256;
  const resumed = ck.committed;
  const resumeDigest = ck.inputDigest;
  const includeText = cfg.sink.includeText ?? true;
  const dim = embeddingWidth(model);
  const progress = run.progress === false ? undefined : run.progress ?? createProgress();
  const totalBytes = sourceBytes(cfg.source);
  const started = performance.now();
  const stopped = () => run.signal?.aborted === true;
  const inputHash = createHash('sha256');
  const limit = MAX_IN_FLIGHT_FACTOR * Math.max(cfg.batching.batchSize ?? 32, cfg.batching.bucketWindow ?? 0) + chunkSize;
  const flow = flowControlled(readSource(cfg.source), { shard: run.shard, resumed, resumeDigest, checkpoint: p.checkpoint, inputHash, limit, stopped });
  const committer = new Committer(ck, { stdout: cfg.sink.type === 'stdout', ...files, checkpoint: p.checkpoint, includeText, table: (rows) => arrowTable(cfg.task, rows, includeText, dim) }, inputHash, chunkSize, flow.release);

  const rowOf = (r: SourceRecord, extra: Partial<OutputRow>): OutputRow => ({ index: r.index, file: r.file, line: r.line, text: r.text, pair: r.pair, ...extra });
  const bySeq = new Map<number, Sequenced>();
  const failures$ = flow.records$.pipe(
    filter((r) => r.error !== undefined),
    map((r): Finished => ({ seq: r.seq, source: r, row: rowOf(r, { error: r.error }), tokens: 0 })),
  );
  const results$ = flow.records$.pipe(
    filter((r) => r.error === undefined),
    tap((r) => bySeq.set(r.seq, r)),
    map((r): TextRecord => ({ index: r.seq, text: r.text, pair: r.pair, messages: r.messages, source: { file: r.file, line: r.line } })),
    batchRecords(cfg.batching),
    concatMap(async (batch) => runIsolating(model, cfg, batch)),
    mergeMap((rows) => rows),
    map(({ record, result, error, tokens }): Finished => {
      const src = bySeq.get(record.index)!;
      bySeq.delete(record.index);
      return { seq: record.index, source: src, row: rowOf(src, error ? { error } : { result }), tokens };
    }),
  );
  const state = () => ({ records: ck.committed + committer.pending.records, failed: ck.failed, tokens: ck.tokens + committer.pending.tokens, bytes: flow.bytesSeen(), totalBytes });

  await lastValueFrom(merge(failures$, results$).pipe(tap((f) => {
    committer.add(f);
    progress?.update(state());
  })), { defaultValue: undefined });
  const interrupted = stopped();
  if (!interrupted) committer.finish();
  files.jsonl?.close();
  files.deadLetter?.close();
  if (!interrupted) {
    if (files.parts && p.output) await files.parts.combine(p.output, () => arrowTable(cfg.task, [], includeText, dim));
    if (p.checkpoint) rmSync(p.checkpoint, { force: true });
  }
  const summary: JobSummary = {
    records: ck.committed, ok: ck.ok, failed: ck.failed, tokens: ck.tokens, seconds: (performance.now() - started) / 1000,
    output: p.output, deadLetter: ck.failed ? p.deadLetter : undefined, interrupted,
  };
  progress?.done(state());
  if (files.deadLetter && ck.failed === 0 && !interrupted && p.deadLetter && statSync(p.deadLetter).size === 0) rmSync(p.deadLetter);
  return summary;
}
