import { createServer, type Server } from 'node:http';
import type { WorkerCounters } from './worker.js';

/** One line for stderr: what a worker has done and how its group stands. */
export function healthLine(c: WorkerCounters): string {
  const rate = c.seconds > 0 ? c.records / c.seconds : 0;
  return `worker ${c.consumer}: ${c.records} records (${rate.toFixed(1)}/s), ${c.failed} dead-lettered, ${c.tokens} tokens, ${c.redeliveries} redeliveries, ${c.duplicates} duplicates skipped, ${c.inFlight} in flight, ${c.pending} pending in the group, up ${c.seconds.toFixed(0)}s`;
}

const METRICS: [keyof WorkerCounters, 'counter' | 'gauge', string][] = [
  ['records', 'counter', 'Records committed and acknowledged.'],
  ['failed', 'counter', 'Records sent to the dead-letter stream.'],
  ['tokens', 'counter', 'Tokens run through the model.'],
  ['redeliveries', 'counter', 'Records received that the group had delivered before.'],
  ['duplicates', 'counter', 'Records whose result another delivery had already written.'],
  ['inFlight', 'gauge', 'Records read and not yet acknowledged by this worker.'],
  ['pending', 'gauge', 'Entries the group has delivered and not acknowledged.'],
];

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The counters in the Prometheus text exposition format (version 0.0.4). */
export function prometheusText(c: WorkerCounters): string {
  const label = `{consumer="${c.consumer.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')}"}`;
  const lines: string[] = [];
  for (const [key, type, help] of METRICS) {
    const name = `attnflow_worker_${snake(key)}${type === 'counter' ? '_total' : ''}`;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${label} ${c[key]}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Serves GET /metrics on a port (all interfaces, as a Kubernetes scrape needs); resolves once listening. */
export function serveMetrics(port: number, counters: () => WorkerCounters): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('GET /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(prometheusText(counters()));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server.unref()));
  });
}
