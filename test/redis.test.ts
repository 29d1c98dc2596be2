import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { modelFor } from '@attnflow/cli/defaults';
import { connectRedis, RedisStreamSink, RedisStreamSource, validatePipeline, workerFromObject, PipelineError } from '@attnflow/pipeline';
import { cli, cliProcess, tempDir, writePipeline } from './helpers/cli.js';

/** The scale: enough records that kills land while every worker is busy. */
const RECORDS = 10_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A real redis-server (Debian's package; .ci/run installs it) on a free loopback port, without persistence. */
async function startRedis(): Promise<{ server: ChildProcess; url: string }> {
  if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does this)');
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      const redis = await connectRedis(url);
      await redis.quit();
      return { server, url };
    } catch (e) {
      if (attempt > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Texts of varied length and words, one per record, with no newline (the reference run reads them as lines). */
const words = ['attention', 'query', 'key', 'value', 'softmax', 'head', 'layer', 'token', 'Beijing', 'Games', 'stream', 'worker', '北京', 'ünïcödé'];
const text = (i: number) => `${i}: ${Array.from({ length: 2 + ((i * 7) % 19) }, (_, j) => words[(i * 31 + j * 17) % words.length]).join(' ')}`;

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `XRANGE` in pages, as field maps. */
async function readStream(redis: Redis, key: string): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for (let start = '-'; ; ) {
    const page = await redis.xrange(key, start, '+', 'COUNT', 2000);
    for (const [, fields] of page) out.push(Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]])));
    if (page.length < 2000) return out;
    start = `(${page[page.length - 1][0]}`;
  }
}

describe('workers on a Redis Stream', () => {
  let redis: { server: ChildProcess; url: string };
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = await connectRedis(redis.url);
  });
  afterAll(async () => {
    await client?.quit();
    redis?.server.kill('SIGKILL');
  });

  it('3 workers, one SIGKILLed and one SIGTERMed mid-way: every record in the output exactly once, equal to a single-process run', async () => {
    const dir = tempDir();
    const model = modelFor('embed', undefined);
    const texts = Array.from({ length: RECORDS }, (_, i) => text(i));
    // The same pipeline reading a file in one process: the outputs the workers must reproduce.
    writeFileSync(join(dir, 'in.txt'), `${texts.join('\n')}\n`);
    const batching = 'batching: { batchSize: 32, bucketWindow: 128 }';
    const reference = writePipeline(dir, 'reference.yaml', `model: ${model}\ntask: embed\nsource: { type: text, path: in.txt }\n${batching}\nsink: { type: jsonl, path: reference.jsonl }\nworkers: 1\n`);
    expect(cli(['run', reference, '--no-progress']).code).toBe(0);
    const expected = readFileSync(join(dir, 'reference.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { text: string; embedding: number[] });

    const ids: string[] = [];
    for (let at = 0; at < RECORDS; at += 1000) {
      const batch = client.pipeline();
      for (const t of texts.slice(at, at + 1000)) batch.xadd('texts', '*', 'text', t);
      for (const [error, id] of (await batch.exec()) ?? []) {
        if (error || typeof id !== 'string') throw error ?? new Error('XADD gave no id');
        ids.push(id);
      }
    }
    const pipeline = writePipeline(dir, 'stream.yaml', `model: ${model}\ntask: embed\nsource: { type: redis, url: "${redis.url}", stream: texts, group: embedders, count: 64, blockMs: 500, claimIdleMs: 3000, maxDeliveries: 5 }\n${batching}\nsink: { type: redis, stream: embeddings }\nworkers: 1\n`);
    const logs = ['', '', ''];
    const workers = [0, 1, 2].map((i) => {
      const child = cliProcess(['worker', pipeline, '--consumer', `w${i}`, '--health-seconds', '1']);
      child.stderr.on('data', (d) => (logs[i] += d));
      return child;
    });
    const tails = () => logs.map((l, i) => `--- w${i}:\n${l.split('\n').slice(-6).join('\n')}`).join('\n');
    const written = () => client.hlen('embeddings:ids');
    try {
      await until('a third of the records', async () => (await written()) >= RECORDS / 3, 240_000, tails);
      workers[0].kill('SIGKILL');
      await once(workers[0], 'exit');
      // What w0 held when it died: pending in its name until a live worker claims it.
      const pendingAtKill = (await client.xpending('texts', 'embedders', '-', '+', RECORDS, 'w0')).length;
      expect(pendingAtKill, 'w0 was killed holding records').toBeGreaterThan(0);
      await until('two thirds of the records', async () => (await written()) >= (2 * RECORDS) / 3, 240_000, tails);
      const t0 = performance.now();
      workers[1].kill('SIGTERM');
      const [code1] = await once(workers[1], 'exit');
      expect(code1, tails()).toBe(0);
      // Bounded: a read under way (blockMs) plus finishing what is in flight, well inside the 25 s stop timeout.
      expect(performance.now() - t0).toBeLessThan(25_000);
      expect(logs[1]).toMatch(/stopped: worker w1: \d+ records/);
      await until('every record written and acknowledged', async () => (await written()) === RECORDS && Number((await client.xpending('texts', 'embedders'))[0]) === 0, 240_000, tails);
      workers[2].kill('SIGTERM');
      const [code2] = await once(workers[2], 'exit');
      expect(code2, tails()).toBe(0);

      // Every entry w0 held was claimed by w1 or w2, so their final counters account for at least those.
      const redelivered = [1, 2].reduce((n, i) => n + Number(/stopped: .* (\d+) redeliveries/.exec(logs[i])?.[1] ?? NaN), 0);
      expect(redelivered, tails()).toBeGreaterThanOrEqual(pendingAtKill);
      expect(await client.xlen('embeddings:dead-letter')).toBe(0);
      const entries = await readStream(client, 'embeddings');
      expect(entries.length).toBe(RECORDS);
      const byId = new Map<string, { text: string; embedding: number[] }>();
      for (const e of entries) {
        expect(byId.has(e.id), `${e.id} written twice`).toBe(false);
        byId.set(e.id, JSON.parse(e.record) as { text: string; embedding: number[] });
      }
      ids.forEach((id, i) => {
        const got = byId.get(id);
        expect(got, `record ${i} (${id}) missing`).toBeDefined();
        expect(got!.text).toBe(expected[i].text);
        expect(got!.embedding).toEqual(expected[i].embedding);
      });
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    }
  }, 900_000);

  it('a record written twice (a worker died between write and acknowledge) is in the output once', async () => {
    const sink = await RedisStreamSink.open({ type: 'redis', stream: 'twice' }, redis.url);
    try {
      const rows = [{ id: '1-0', record: { id: '1-0', embedding: [1] } }, { id: '1-1', error: 'empty text', record: { id: '1-1', error: 'empty text', text: '' } }];
      expect(await sink.write(rows)).toBe(2);
      expect(await sink.write(rows)).toBe(0);
      expect(await client.xlen('twice')).toBe(1);
      expect(await client.xlen('twice:dead-letter')).toBe(1);
      const [stream, entry] = (await client.hget('twice:ids', '1-0'))!.split(' ');
      expect(stream).toBe('twice');
      expect((await client.xrange('twice', entry, entry))[0][1]).toEqual(['id', '1-0', 'record', JSON.stringify(rows[0].record)]);
    } finally {
      sink.close();
    }
  });

  it('entries of a stopped consumer are claimed after claimIdleMs; one delivered more than maxDeliveries times is dead-lettered unrun', async () => {
    await client.xadd('claims', '1-1', 'text', 'hello');
    await client.xadd('claims', '1-2', 'text', 'again');
    await client.xgroup('CREATE', 'claims', 'g', '0');
    // A consumer that took both and stopped; the first entry has been delivered three times.
    await client.xreadgroup('GROUP', 'g', 'gone', 'COUNT', 2, 'STREAMS', 'claims', '>');
    await client.xclaim('claims', 'g', 'gone', 0, '1-1');
    await client.xclaim('claims', 'g', 'gone', 0, '1-1');
    const source = await RedisStreamSource.open({ type: 'redis', url: redis.url, stream: 'claims', group: 'g', consumer: 'live', claimIdleMs: 100, maxDeliveries: 3 });
    try {
      await new Promise((r) => setTimeout(r, 150));
      const records = await source.next(10);
      expect(records.map((r) => [r.id, r.deliveries])).toEqual([['1-1', 4], ['1-2', 2]]);
      expect(records[0].error).toMatch(/delivered 4 times \(more than maxDeliveries 3\)/);
      expect(records[1].error).toBeUndefined();
      expect(source.redeliveries).toBe(2);
    } finally {
      source.close();
    }
  });

  it('pipeline files: redis keys only with type redis; run refuses streams and worker refuses files', () => {
    const base = { model: 'm', task: 'embed', sink: { type: 'redis', stream: 'out' } };
    expect(() => validatePipeline({ ...base, source: { type: 'redis', stream: 's', path: 'x.txt' } })).toThrow(/source\.path does not apply/);
    expect(() => validatePipeline({ ...base, source: { type: 'text', path: 'x.txt', stream: 's' } })).toThrow(/source\.stream does not apply/);
    expect(() => validatePipeline({ ...base, source: { type: 'redis' } })).toThrow(/source needs "stream"/);
    expect(() => validatePipeline({ ...base, source: { type: 'redis', stream: 's', count: 0 } })).toThrow(/source\.count/);
    const dir = tempDir();
    const file = writePipeline(dir, 'p.yaml', `model: ${modelFor('embed', undefined)}\ntask: embed\nsource: { type: redis, stream: s }\nsink: { type: redis, stream: out }\n`);
    const run = cli(['run', file, '--no-progress']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/attnflow worker/);
    expect(() => workerFromObject({ model: modelFor('embed', undefined), task: 'embed', source: { type: 'text', path: 'x.txt' }, sink: { type: 'jsonl', path: 'o.jsonl' } })).toThrow(PipelineError);
  });
});
