import { pipelineFromFile, type JobSummary } from '@attnflow/pipeline';
import { EXIT, UsageError, int, str, type Command, DTYPE_HELP, dtypeFlag } from '../cli.js';
import { printNearest, searchableOutput } from './search.js';

export function printSummary(s: JobSummary): void {
  if (s.alreadyComplete) {
    process.stderr.write(`nothing to resume: ${s.output} is already complete (${s.ok} records${s.failed ? `, ${s.failed} dead-lettered in ${s.deadLetter}` : ''})\n`);
    return;
  }
  const lines = [
    `${s.interrupted ? 'stopped' : 'done'}: ${s.records} records (${s.ok} ok, ${s.failed} dead-lettered), ${s.tokens} tokens in ${s.seconds.toFixed(1)}s`,
  ];
  if (s.output) lines.push(`output: ${s.output}${s.interrupted ? ' (partial; run again with --resume to finish)' : ''}`);
  if (s.deadLetter) lines.push(`dead letters: ${s.deadLetter}`);
  process.stderr.write(`${lines.join('\n')}\n`);
}

export function exitCodeOf(s: JobSummary): number {
  return s.interrupted ? EXIT.interrupted : s.failed ? EXIT.deadLettered : EXIT.ok;
}

/** Ctrl-C: the first stops reading and commits what is done; a second one exits at once. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nstopping: finishing the current batch and writing a checkpoint (Ctrl-C again to quit now)\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(EXIT.interrupted));
  });
  process.once('SIGTERM', () => controller.abort());
  return controller.signal;
}

export function parseShard(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new UsageError(`--shard must be i/n with 0 ≤ i < n, e.g. 0/4; got "${v}"`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run a pipeline file (source → model → sink), resumable',
  usage: 'attnflow run <pipeline.yaml> [options]',
  options: {
    input: { type: 'string' },
    output: { type: 'string' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean' },
    workers: { type: 'string' },
    dtype: { type: 'string' },
    shard: { type: 'string' },
    'no-progress': { type: 'boolean' },
    search: { type: 'string' },
  },
  help: `Options:
  --input PATH          read this file or glob instead of the pipeline's source.path
  --output PATH         write here instead of the pipeline's sink.path
  --resume              continue a run that was killed or stopped, from its checkpoint
  --overwrite           replace the output of an earlier run
  --workers N           compute threads (default: pipeline's workers, else all cores)
${DTYPE_HELP}  --shard i/n           process records with index % n == i (n machines, one part each)
  --no-progress         no progress bar on stderr
  --search TEXT         embed pipelines writing JSONL: afterwards, print the 3 output lines nearest to TEXT

Exit codes: 0 done, 1 error, 2 bad usage, 3 done but some records were dead-lettered,
130 stopped by Ctrl-C (the checkpoint lets --resume finish the job).`,
  async run(v, pos) {
    if (pos.length !== 1) throw new UsageError('run takes one pipeline file: attnflow run pipelines/embed.yaml');
    const pipeline = pipelineFromFile(pos[0]);
    if (str(v.input)) pipeline.job.source.path = str(v.input);
    if (str(v.output)) {
      pipeline.job.sink.path = str(v.output);
      if (!pipeline.spec.sink.deadLetter) pipeline.job.sink.deadLetter = undefined;
    }
    const workers = int(v.workers, 'workers');
    if (workers !== undefined) pipeline.spec.workers = workers;
    pipeline.spec.dtype = dtypeFlag(v.dtype) ?? pipeline.spec.dtype;
    if (v.search !== undefined) searchableOutput(pipeline);
    try {
      const summary = await pipeline.run({ resume: (v.resume === true), overwrite: (v.overwrite === true), shard: parseShard(str(v.shard)), progress: v['no-progress'] === true ? false : undefined, signal: interruptSignal() });
      printSummary(summary);
      const search = str(v.search);
      if (search !== undefined && !summary.interrupted) await printNearest(pipeline, search, 3);
      return exitCodeOf(summary);
    } finally {
      await pipeline.close();
    }
  },
};
