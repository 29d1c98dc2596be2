import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRedis } from '@attnflow/pipeline';
import { table } from './common.js';

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../pipelines/models/mini-bert', import.meta.url));

/** A port the OS has just handed out (and taken back), for redis-server. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || !address) throw new Error('no free port');
  return address.port;
}

/**
 * Records/s of one embedding job three ways, each from process start to the last record written (model loading
 * included in all): `attnflow run` over a text file, and 1 and 2 `attnflow worker` processes sharing a Redis
 * Stream into a redis sink, and into jsonl part files. Every row uses as many compute threads in total as the
 * machine has cores.
 */
export async function streamBench(records: number): Promise<string> {
  if (spawnSync('redis-server', ['--version']).error) return '(skipped: redis-server is not installed; apt-get install -y redis-server)';
  const dir = mkdtempSync(join(tmpdir(), 'attnflow-stream-'));
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  await new Promise((r) => setTimeout(r, 300));
  const redis = await connectRedis(url);
  const cores = cpus().length;
  const texts = Array.from({ length: records }, (_, i) => `record ${i}: workers share one stream of texts, ${'and attention relates every token '.repeat(1 + (i % 4))}`);
  writeFileSync(join(dir, 'in.txt'), `${texts.join('\n')}\n`);
  const common = `model: ${MODEL}\ntask: embed\nbatching: { batchSize: 32, bucketWindow: 128 }\n`;
  const rows: (string | number)[][] = [['job', 'processes', 'threads each', 'records', 'seconds', 'records/s']];
  try {
    writeFileSync(join(dir, 'file.yaml'), `${common}source: { type: text, path: in.txt }\nsink: { type: jsonl, path: out.jsonl }\nworkers: ${cores}\n`);
    let t = performance.now();
    const run = spawnSync(process.execPath, [CLI, 'run', join(dir, 'file.yaml'), '--no-progress', '--overwrite'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`attnflow run failed: ${run.stderr}`);
    let s = (performance.now() - t) / 1000;
    rows.push(['run, text file → jsonl', 1, cores, records, s, records / s]);

    // Where each sink's commits mark the ids written, so the bench sees when every record is done.
    const sinks = [
      { name: 'redis stream', yaml: (n: number) => `{ type: redis, stream: embeddings${n} }`, ids: (n: number) => `embeddings${n}:ids` },
      { name: 'jsonl parts', yaml: (n: number) => `{ type: jsonl, path: parts${n} }`, ids: (n: number) => `texts${n}:attnflow:ids` },
    ];
    let n = 0;
    for (const sink of sinks) {
      for (const processes of [1, 2]) {
        const stream = `texts${++n}`;
        for (let at = 0; at < records; at += 1000) {
          const batch = redis.pipeline();
          for (const text of texts.slice(at, at + 1000)) batch.xadd(stream, '*', 'text', text);
          await batch.exec();
        }
        const threads = Math.max(1, Math.floor(cores / processes));
        writeFileSync(join(dir, `${stream}.yaml`), `${common}source: { type: redis, url: "${url}", stream: ${stream} }\nsink: ${sink.yaml(n)}\nworkers: ${threads}\n`);
        t = performance.now();
        const workers: ChildProcess[] = Array.from({ length: processes }, (_, i) => spawn(process.execPath, [CLI, 'worker', join(dir, `${stream}.yaml`), '--consumer', `bench-${i}`, '--health-seconds', '3600'], { stdio: 'ignore' }));
        while ((await redis.hlen(sink.ids(n))) < records) await new Promise((r) => setTimeout(r, 50));
        s = (performance.now() - t) / 1000;
        for (const w of workers) w.kill('SIGTERM');
        await Promise.all(workers.map((w) => once(w, 'exit')));
        rows.push([`worker, redis stream → ${sink.name}`, processes, threads, records, s, records / s]);
      }
    }
  } finally {
    await redis.quit();
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return `${table(rows)}\n(mini-bert embeddings; from process start to the last record written, model loading included)`;
}
