import { emptyCounters, healthLine, resolveRedisSource, serveMetrics, workerFromFile, type WorkerCounters } from '@attnflow/pipeline';
import { EXIT, UsageError, int, str, type Command, DTYPE_HELP, dtypeFlag } from '../cli.js';

/**
 * SIGTERM (what Kubernetes sends) or Ctrl-C stops reading; what is in flight is finished, written and acknowledged.
 * If that takes longer than the stop timeout, or a second signal comes, the process exits at once: its
 * unacknowledged entries are not lost, other workers claim them.
 */
function stopSignal(stopTimeoutMs: number): AbortSignal {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: stopping — finishing and acknowledging the records in flight\n`);
    controller.abort();
    setTimeout(() => {
      process.stderr.write(`not stopped after ${stopTimeoutMs / 1000}s: exiting; the records in flight stay pending and other workers will claim them\n`);
      process.exit(EXIT.failed);
    }, stopTimeoutMs).unref();
    process.once('SIGTERM', () => process.exit(EXIT.interrupted));
    process.once('SIGINT', () => process.exit(EXIT.interrupted));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return controller.signal;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'serve a Redis Stream as one of n workers of a consumer group, until SIGTERM',
  usage: 'attnflow worker <pipeline.yaml> [options]',
  options: {
    consumer: { type: 'string' },
    workers: { type: 'string' },
    dtype: { type: 'string' },
    'metrics-port': { type: 'string' },
    'health-seconds': { type: 'string' },
    'stop-timeout': { type: 'string' },
  },
  help: `The pipeline's source is a stream (type: redis); its sink a stream too, or a directory of part
files (type: jsonl or arrow; one part per worker process). The group hands each entry to one worker;
its result is written once (by source id) and the entry acknowledged only after that; entries of a
worker that dies are claimed by the others after source.claimIdleMs.

Options:
  --consumer NAME       this worker's name in the group (default: the pipeline's, else host-pid)
  --workers N           compute threads (default: pipeline's workers, else all cores)
${DTYPE_HELP}  --metrics-port PORT   serve Prometheus metrics at http://0.0.0.0:PORT/metrics
  --health-seconds S    a health line on stderr every S seconds (default 10)
  --stop-timeout S      after SIGTERM, exit anyway after S seconds (default 25)

Exit codes: 0 stopped by SIGTERM or Ctrl-C with everything in flight acknowledged, 1 error
(Redis unreachable, stop timeout), 2 bad usage, 130 a second signal (what was in flight is claimed
by the other workers).`,
  async run(v, pos) {
    if (pos.length !== 1) throw new UsageError('worker takes one pipeline file: attnflow worker pipelines/embed-stream.yaml');
    const worker = workerFromFile(pos[0]);
    const consumer = str(v.consumer);
    if (consumer !== undefined) worker.config.source.consumer = consumer;
    const workers = int(v.workers, 'workers');
    if (workers !== undefined) worker.spec.workers = workers;
    worker.spec.dtype = dtypeFlag(v.dtype) ?? worker.spec.dtype;
    const healthMs = (int(v['health-seconds'], 'health-seconds', 1) ?? 10) * 1000;
    const signal = stopSignal((int(v['stop-timeout'], 'stop-timeout', 1) ?? 25) * 1000);
    let latest = emptyCounters(resolveRedisSource(worker.config.source).consumer);
    const port = int(v['metrics-port'], 'metrics-port');
    const metrics = port === undefined ? undefined : await serveMetrics(port, () => latest);
    try {
      const onHealth = (c: WorkerCounters) => {
        latest = c;
        process.stderr.write(`${healthLine(c)}\n`);
      };
      const final = await worker.serve({ signal, healthMs, onHealth });
      process.stderr.write(`stopped: ${healthLine(final)}\n`);
      return EXIT.ok;
    } finally {
      metrics?.close();
      await worker.close();
    }
  },
};
