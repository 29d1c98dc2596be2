import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { modelFor } from '@attnflow/cli/defaults';
import { connectRedis, FileStreamSink, jsonlFormat, PartLedger, RedisStreamSink, RedisStreamSource, resolveRedisSource, validatePipeline, workerFromObject, PipelineError } from '@attnflow/pipeline';
import { cli, cliProcess, tempDir, writePipeline } from './helpers/cli.js';
import { python } from './helpers/python.js';

/** The scale: enough records that kills land while every worker is busy. */
const RECORDS = 10_000;
/** The same scenario over file sinks, smaller: what it adds is how parts are committed, not scale. */
const FILE_RECORDS = 1500;
const BATCHING = 'batching: { batchSize: 32, bucketWindow: 128 }';

interface Output {
  text: string;
  embedding: number[];
}

/**
 * Every part of an arrow sink's directory (argv 1), as users read them: pyarrow, one stream per part, and DuckDB
 * over the table. The rows go to a file (argv 2): printed, they would overflow the output spawnSync keeps.
 */
const READ_PARTS = `
import glob, json, os, sys, duckdb, pyarrow as pa
t = pa.concat_tables(pa.ipc.open_stream(f).read_all() for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.arrows"))))
json.dump(t.select(["id", "text", "embedding"]).to_pylist(), open(sys.argv[2], "w"))
print(json.dumps({"rows": t.num_rows, "duckdb": duckdb.sql("SELECT count(DISTINCT id) FROM t").fetchone()[0]}))
`;

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

  /** The pipeline reading a file in one process: the outputs workers must reproduce (its prefix, for fewer records). */
  let reference: Output[] = [];
  const expectedOutputs = (records: number): Output[] => {
    if (reference.length >= records) return reference;
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), `${Array.from({ length: records }, (_, i) => text(i)).join('\n')}\n`);
    const file = writePipeline(dir, 'reference.yaml', `model: ${modelFor('embed', undefined)}\ntask: embed\nsource: { type: text, path: in.txt }\n${BATCHING}\nsink: { type: jsonl, path: reference.jsonl }\nworkers: 1\n`);
    // 10,000 texts on one thread: minutes on a loaded machine, more than cli()'s default limit
    const run = cli(['run', file, '--no-progress'], { timeoutMs: 600_000 });
    expect(run.code, run.stderr).toBe(0);
    reference = readFileSync(join(dir, 'reference.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Output);
    return reference;
  };

  /**
   * 3 workers on `records` texts, one SIGKILLed a third of the way and one SIGTERMed two thirds of the way; the
   * third serves to the end. `sink` is the pipeline's sink, `ids` the hash its commits mark, `outputs` reads the
   * results (in the pipeline's directory) by source id, failing on an id read twice.
   */
  async function scaleOut(name: string, records: number, sink: string, ids: string, outputs: (dir: string) => Promise<Map<string, Output>>): Promise<void> {
    const dir = tempDir();
    const stream = `texts-${name}`;
    const expected = expectedOutputs(records);
    const sourceIds: string[] = [];
    for (let at = 0; at < records; at += 1000) {
      const batch = client.pipeline();
      for (let i = at; i < Math.min(records, at + 1000); i++) batch.xadd(stream, '*', 'text', text(i));
      for (const [error, id] of (await batch.exec()) ?? []) {
        if (error || typeof id !== 'string') throw error ?? new Error('XADD gave no id');
        sourceIds.push(id);
      }
    }
    const pipeline = writePipeline(dir, 'stream.yaml', `model: ${modelFor('embed', undefined)}\ntask: embed\nsource: { type: redis, url: "${redis.url}", stream: ${stream}, group: embedders, count: 64, blockMs: 500, claimIdleMs: 3000, maxDeliveries: 5 }\n${BATCHING}\nsink: ${sink}\nworkers: 1\n`);
    const logs = ['', '', ''];
    const workers = [0, 1, 2].map((i) => {
      const child = cliProcess(['worker', pipeline, '--consumer', `w${i}`, '--health-seconds', '1'], dir);
      child.stderr.on('data', (d) => (logs[i] += d));
      return child;
    });
    const tails = () => logs.map((l, i) => `--- w${i}:\n${l.split('\n').slice(-6).join('\n')}`).join('\n');
    const written = () => client.hlen(ids);
    try {
      await until('a third of the records', async () => (await written()) >= records / 3, 240_000, tails);
      workers[0].kill('SIGKILL');
      await once(workers[0], 'exit');
      // What w0 held when it died: pending in its name until a live worker claims it.
      const pendingAtKill = (await client.xpending(stream, 'embedders', '-', '+', records, 'w0')).length;
      expect(pendingAtKill, 'w0 was killed holding records').toBeGreaterThan(0);
      await until('two thirds of the records', async () => (await written()) >= (2 * records) / 3, 240_000, tails);
      const t0 = performance.now();
      workers[1].kill('SIGTERM');
      const [code1] = await once(workers[1], 'exit');
      expect(code1, tails()).toBe(0);
      // Bounded: a read under way (blockMs) plus finishing what is in flight, well inside the 25 s stop timeout.
      expect(performance.now() - t0).toBeLessThan(25_000);
      expect(logs[1]).toMatch(/stopped: worker w1: \d+ records/);
      await until('every record written and acknowledged', async () => (await written()) === records && Number((await client.xpending(stream, 'embedders'))[0]) === 0, 240_000, tails);
      workers[2].kill('SIGTERM');
      const [code2] = await once(workers[2], 'exit');
      expect(code2, tails()).toBe(0);

      // Every entry w0 held was claimed by w1 or w2, so their final counters account for at least those.
      const redelivered = [1, 2].reduce((n, i) => n + Number(/stopped: .* (\d+) redeliveries/.exec(logs[i])?.[1] ?? NaN), 0);
      expect(redelivered, tails()).toBeGreaterThanOrEqual(pendingAtKill);
      const byId = await outputs(dir);
      expect(byId.size).toBe(records);
      sourceIds.forEach((id, i) => {
        const got = byId.get(id);
        expect(got, `record ${i} (${id}) missing`).toBeDefined();
        expect(got!.text).toBe(expected[i].text);
        expect(got!.embedding).toEqual(expected[i].embedding);
      });
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    }
  }

  /** Adds a result to a map by id, failing on an id seen before. */
  const addOnce = (byId: Map<string, Output>, r: Output & { id: string }) => {
    expect(byId.has(r.id), `${r.id} written twice`).toBe(false);
    byId.set(r.id, r);
  };

  it('3 workers, one SIGKILLed and one SIGTERMed mid-way: every record in the output exactly once, equal to a single-process run', async () => {
    await scaleOut('redis', RECORDS, '{ type: redis, stream: embeddings }', 'embeddings:ids', async () => {
      expect(await client.xlen('embeddings:dead-letter')).toBe(0);
      const byId = new Map<string, Output>();
      for (const e of await readStream(client, 'embeddings')) addOnce(byId, { id: e.id, ...(JSON.parse(e.record) as Output) });
      return byId;
    });
  }, 900_000);

  /** After the workers stop, every part holds exactly its committed bytes (a killed worker's tail was cut) and nothing failed. */
  async function checkParts(dir: string, ledger: PartLedger, ext: string) {
    const parts = await ledger.all();
    expect(parts.every((p) => p.sealed && p.deadLetters === 0), JSON.stringify(parts)).toBe(true);
    for (const p of parts) expect(statSync(join(dir, 'out', `${p.name}${ext}`), { throwIfNoEntry: false })?.size ?? 0, p.name).toBe(p.results);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(parts.filter((p) => p.results > 0).map((p) => `${p.name}${ext}`).sort());
    expect(readdirSync(join(dir, 'out.dead-letter'))).toEqual([]);
  }

  it('the same with a jsonl sink: each worker its own part file, every record in exactly one of them', async () => {
    await scaleOut('jsonl', FILE_RECORDS, '{ type: jsonl, path: out }', 'texts-jsonl:embedders:ids', async (dir) => {
      await checkParts(dir, new PartLedger(client, 'texts-jsonl:embedders:ids', 0), '.jsonl');
      const byId = new Map<string, Output>();
      for (const f of readdirSync(join(dir, 'out'))) {
        for (const line of readFileSync(join(dir, 'out', f), 'utf8').split('\n').filter(Boolean)) addOnce(byId, JSON.parse(line) as Output & { id: string });
      }
      return byId;
    });
  }, 900_000);

  it('the same with an arrow sink: each part an Arrow IPC stream, all of them read by pyarrow and DuckDB as one table', async () => {
    await scaleOut('arrow', FILE_RECORDS, '{ type: arrow, path: out }', 'texts-arrow:embedders:ids', async (dir) => {
      await checkParts(dir, new PartLedger(client, 'texts-arrow:embedders:ids', 0), '.arrows');
      const read = python<{ rows: number; duckdb: number }>(READ_PARTS, [join(dir, 'out'), join(dir, 'rows.json')]);
      expect(read.duckdb).toBe(read.rows);
      const byId = new Map<string, Output>();
      for (const r of JSON.parse(readFileSync(join(dir, 'rows.json'), 'utf8')) as (Output & { id: string })[]) addOnce(byId, r);
      return byId;
    });
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

  it("a dead worker's uncommitted tail is cut back to its part's committed length, and its records are written once", async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ids = 'tails:ids';
    const line = (id: string) => `${JSON.stringify({ id, text: id })}\n`;
    const row = (id: string) => ({ id, record: { id, text: id } });
    // A worker that committed two records, then wrote a third and died before committing it.
    const leaseMs = 300;
    const dead = new PartLedger(client, ids, leaseMs);
    const part = await dead.open('dead');
    const file = join(out, `${part}.jsonl`);
    mkdirSync(out);
    appendFileSync(file, line('1-1') + line('1-2'));
    expect(await dead.commit(part, { results: 0, deadLetters: 0 }, { results: statSync(file).size, deadLetters: 0 }, [['1-1', `result ${part}.jsonl`], ['1-2', `result ${part}.jsonl`]])).toEqual({ kind: 'ok' });
    const committed = readFileSync(file, 'utf8');
    appendFileSync(file, line('1-3'));

    // A worker that starts while the dead one's lease runs: the part may still be written, so it is left alone…
    const live = await FileStreamSink.open({ type: 'jsonl', path: out, ids }, resolveRedisSource({ type: 'redis', url: redis.url, stream: 'tails', consumer: 'live', claimIdleMs: leaseMs }), jsonlFormat);
    try {
      expect(readFileSync(file, 'utf8')).toBe(committed + line('1-3'));
      // …until the lease runs out: the live worker's sweep seals the part and cuts the tail.
      await until('the tail cut', async () => readFileSync(file, 'utf8') === committed, 5000, () => readFileSync(file, 'utf8'));
      expect((await dead.all()).find((p) => p.name === part)).toEqual({ name: part, results: committed.length, deadLetters: 0, sealed: true });
      // The claimed records: 1-2 is committed already (acknowledged unwritten), 1-3 is written, in the live part.
      expect(await live.write([row('1-2'), row('1-3'), { id: '1-4', error: 'empty text', record: { id: '1-4', error: 'empty text', text: '' } }])).toBe(2);
      // A sealed part is never written again: its writer's commit is refused with the sealed lengths.
      expect(await dead.commit(part, { results: committed.length, deadLetters: 0 }, { results: committed.length + 10, deadLetters: 0 }, [['1-5', 'x']])).toEqual({ kind: 'sealed', committed: { results: committed.length, deadLetters: 0 } });
    } finally {
      await live.close();
    }
    const lines = readdirSync(out).flatMap((f) => readFileSync(join(out, f), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id));
    expect(lines.sort()).toEqual(['1-1', '1-2', '1-3']);
    expect(readdirSync(join(dir, 'out.dead-letter')).flatMap((f) => readFileSync(join(dir, 'out.dead-letter', f), 'utf8').trim().split('\n'))).toEqual([JSON.stringify({ id: '1-4', error: 'empty text', text: '' })]);
    expect(await client.hget(ids, '1-3')).toMatch(/^result live-\d+\.jsonl$/);
    // Every part is sealed with its files at exactly their committed lengths.
    for (const p of await dead.all()) {
      expect(p.sealed).toBe(true);
      expect(statSync(join(out, `${p.name}.jsonl`), { throwIfNoEntry: false })?.size ?? 0).toBe(p.results);
    }
  });

  it('a commit whose ids another delivery committed first records nothing; a file sink refuses a directory that does not match Redis, or a file', async () => {
    const ledger = new PartLedger(client, 'races:ids', 60_000);
    const a = await ledger.open('a');
    const b = await ledger.open('b');
    expect(await ledger.commit(a, { results: 0, deadLetters: 0 }, { results: 10, deadLetters: 0 }, [['2-1', 'result a'], ['2-2', 'result a']])).toEqual({ kind: 'ok' });
    expect(await ledger.commit(b, { results: 0, deadLetters: 0 }, { results: 15, deadLetters: 0 }, [['2-3', 'result b'], ['2-2', 'result b']])).toEqual({ kind: 'taken', ids: ['2-2'] });
    expect(await client.hexists('races:ids', '2-3')).toBe(0);
    expect((await ledger.all()).find((p) => p.name === b)?.results).toBe(0);

    const settings = resolveRedisSource({ type: 'redis', url: redis.url, stream: 'races', consumer: 'c' });
    // Part a has 10 bytes committed, but its file is not there.
    const dir = tempDir();
    await expect(FileStreamSink.open({ type: 'jsonl', path: dir, ids: 'races:ids' }, settings, jsonlFormat)).rejects.toThrow(/a-1\.jsonl: 0 bytes, but 10 are committed/);
    // A part file Redis has never heard of: another run's output.
    const other = tempDir();
    writeFileSync(join(other, 'x-1.jsonl'), '{}\n');
    await expect(FileStreamSink.open({ type: 'jsonl', path: other, ids: 'fresh:ids' }, settings, jsonlFormat)).rejects.toThrow(/x-1\.jsonl: not a part that Redis/);
    // A job's output file given as a worker's path, which names a directory.
    const file = join(other, 'out.jsonl');
    writeFileSync(file, '');
    await expect(FileStreamSink.open({ type: 'jsonl', path: file, ids: 'fresh:ids' }, settings, jsonlFormat)).rejects.toThrow(/out\.jsonl: a file, but under attnflow worker/);
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

  it('pipeline files: redis keys only with type redis; run refuses streams and sink.ids; worker refuses file sources and stdout', () => {
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
    const stream = { type: 'redis', stream: 's' };
    expect(() => workerFromObject({ model: modelFor('embed', undefined), task: 'embed', source: stream, sink: { type: 'stdout' } })).toThrow(/cannot write to stdout/);
    expect(workerFromObject({ model: modelFor('embed', undefined), task: 'embed', source: stream, sink: { type: 'arrow', path: 'out', ids: 'done' } }, dir).config.sink).toEqual({ type: 'arrow', path: join(dir, 'out'), deadLetter: undefined, ids: 'done' });
    const job = writePipeline(dir, 'j.yaml', `model: ${modelFor('embed', undefined)}\ntask: embed\nsource: { type: text, path: x.txt }\nsink: { type: jsonl, path: o.jsonl, ids: done }\n`);
    expect(cli(['run', job, '--no-progress']).stderr).toMatch(/sink\.ids .* attnflow worker/);
  });
});
