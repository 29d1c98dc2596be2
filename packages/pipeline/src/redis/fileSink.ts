import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { JobError } from '../job/durable.js';
import { connectRedis } from './connection.js';
import { PartLedger, type Committed, type PartState } from './partLedger.js';
import type { PartFormat } from './partFormat.js';
import type { StreamOutput, StreamSink } from './sink.js';
import type { resolveRedisSource } from './source.js';

/** `sink: { type: jsonl | arrow }` under `attnflow worker`: a directory of part files, one per worker process. */
export interface FileSinkConfig {
  type: 'jsonl' | 'arrow';
  /** The directory the parts go in. */
  path: string;
  /** The directory of the dead-letter parts (JSONL; default `<path>.dead-letter`). */
  deadLetter?: string;
  /** Copy the input text into each result (default true). */
  includeText?: boolean;
  /** The Redis hash from source entry id to the part holding its result (default `<source stream>:<group>:ids`). */
  ids?: string;
}

const DEAD_LETTER_EXT = '.jsonl';

/** A part's file: created at its first write, written only at its committed length, fsynced before the commit. */
class PartFile {
  private fd: number | undefined;
  constructor(readonly path: string) {}

  /** Writes `bytes` at `at` (first cutting whatever an abandoned attempt left past it) and fsyncs; returns the new length. */
  put(at: number, bytes: Buffer): number {
    if (!bytes.length) return at;
    if (this.fd === undefined) {
      // A part name is never used twice, so an existing file here is not this part's: refuse rather than overwrite.
      this.fd = openSync(this.path, 'wx+');
      // The new name must outlive a crash of the machine too, or Redis would count bytes of a file that is gone.
      const dir = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
    ftruncateSync(this.fd, at);
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done, at + done);
    fsyncSync(this.fd);
    return at + bytes.length;
  }

  cut(at: number): void {
    if (this.fd !== undefined) ftruncateSync(this.fd, at);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Cuts a file back to its committed length (a dead worker's uncommitted tail); a missing or shorter file is left as it is. */
export function cutTail(path: string, committed: number): void {
  const size = statSync(path, { throwIfNoEntry: false })?.size;
  if (size === undefined || size <= committed) return;
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, committed);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A consumer name as a file name: characters a path could misread become `_` (the counter keeps names unique). */
const fileName = (consumer: string) => consumer.replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * Exactly-once output in files by source id, for workers that get records at least once. Each worker process
 * writes its own part (`<path>/<consumer>-<n>.jsonl|.arrows`, dead letters in `<deadLetter>/<consumer>-<n>.jsonl`):
 * it writes and fsyncs a batch, then one Redis script records the batch's ids and the part's new committed lengths,
 * all or nothing, refusing ids another delivery committed first (the batch is then written again without them).
 * A record whose id is committed already is acknowledged unwritten. Bytes past a part's committed length are a
 * dead worker's uncommitted tail: when its lease (claimIdleMs, renewed every claimIdleMs / 3) runs out, the first
 * worker to notice seals the part and cuts it back, as does every worker at start for every sealed part.
 */
export class FileStreamSink implements StreamSink {
  private part: string;
  private committed: Committed = { results: 0, deadLetters: 0 };
  private results: PartFile;
  private deadLetters: PartFile;
  /** A commit was sent and its reply lost: whether it applied is unknown, so nothing is cut or sealed at close. */
  private inDoubt = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly redis: Redis,
    private readonly ledger: PartLedger,
    private readonly format: PartFormat,
    private readonly dir: string,
    private readonly deadDir: string,
    private readonly consumer: string,
    part: string,
    leaseMs: number,
  ) {
    this.part = part;
    [this.results, this.deadLetters] = this.files(part);
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), Math.max(leaseMs / 3, 50));
    this.timer.unref();
  }

  /** Checks the directories against Redis, cuts the tails of sealed parts, and opens this worker's part. */
  static async open(cfg: FileSinkConfig, source: ReturnType<typeof resolveRedisSource>, format: PartFormat): Promise<FileStreamSink> {
    const dir = cfg.path;
    const deadDir = cfg.deadLetter ?? `${cfg.path}.dead-letter`;
    if (resolve(dir) === resolve(deadDir)) throw new JobError(`sink.deadLetter (${deadDir}) is the sink's path: dead-letter parts need a directory of their own`);
    const redis = await connectRedis(source.url);
    try {
      const ledger = new PartLedger(redis, cfg.ids ?? `${source.stream}:${source.group}:ids`, source.claimIdleMs);
      // Listed before Redis is read: a part is registered before its files exist, so every file listed is known.
      const listed = [...partFiles(dir, format.ext), ...partFiles(deadDir, DEAD_LETTER_EXT)];
      const parts = await ledger.all();
      checkParts(listed, parts, { dir, deadDir, ext: format.ext }, ledger);
      const sealed = [...parts.filter((p) => p.sealed), ...(await ledger.sweep(undefined))];
      const part = await ledger.open(fileName(source.consumer));
      const sink = new FileStreamSink(redis, ledger, format, dir, deadDir, fileName(source.consumer), part, source.claimIdleMs);
      sink.cut(sealed);
      return sink;
    } catch (e) {
      redis.disconnect();
      throw e;
    }
  }

  private files(part: string): [PartFile, PartFile] {
    return [new PartFile(join(this.dir, `${part}${this.format.ext}`)), new PartFile(join(this.deadDir, `${part}${DEAD_LETTER_EXT}`))];
  }

  async write(rows: StreamOutput[]): Promise<number> {
    const unique = [...new Map(rows.map((r) => [r.id, r])).values()];
    const done = await this.ledger.committed(unique.map((r) => r.id));
    let todo = unique.filter((r) => !done.has(r.id));
    while (todo.length) {
      const good = todo.filter((r) => r.error === undefined);
      const bad = todo.filter((r) => r.error !== undefined);
      const was = this.committed;
      const now = {
        results: this.results.put(was.results, good.length ? this.format.encode(good, was.results === 0) : Buffer.alloc(0)),
        deadLetters: this.deadLetters.put(was.deadLetters, Buffer.from(bad.map((r) => `${JSON.stringify(r.record)}\n`).join(''))),
      };
      const where = (kind: string, file: PartFile) => `${kind} ${basename(file.path)}`;
      this.inDoubt = true;
      const outcome = await this.ledger.commit(this.part, was, now, [...good.map((r): [string, string] => [r.id, where('result', this.results)]), ...bad.map((r): [string, string] => [r.id, where('dead-letter', this.deadLetters)])]);
      this.inDoubt = false;
      if (outcome.kind === 'ok') {
        this.committed = now;
        return todo.length;
      }
      this.results.cut(was.results);
      this.deadLetters.cut(was.deadLetters);
      if (outcome.kind === 'taken') {
        const taken = new Set(outcome.ids);
        todo = todo.filter((r) => !taken.has(r.id));
      } else {
        // This worker stalled past its lease and another sealed its part (at the lengths it had committed): go on in a new one.
        this.results.close();
        this.deadLetters.close();
        this.part = await this.ledger.open(this.consumer);
        [this.results, this.deadLetters] = this.files(this.part);
        this.committed = { results: 0, deadLetters: 0 };
      }
    }
    return 0;
  }

  /** Renews this part's lease, and seals and cuts back the parts of workers whose leases ran out. */
  private async sweep(): Promise<void> {
    this.cut(await this.ledger.sweep(this.part));
  }

  private cut(parts: PartState[]): void {
    for (const p of parts) {
      if (p.name === this.part) continue;
      cutTail(join(this.dir, `${p.name}${this.format.ext}`), p.results);
      cutTail(join(this.deadDir, `${p.name}${DEAD_LETTER_EXT}`), p.deadLetters);
    }
  }

  /** Seals this worker's part at what it committed, so no one waits for its lease to run out. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      if (!this.inDoubt) {
        this.results.cut(this.committed.results);
        this.deadLetters.cut(this.committed.deadLetters);
        // If Redis cannot be reached, the lease runs out and another worker seals the part at the same lengths.
        await this.ledger.close(this.part, this.committed).catch(() => undefined);
      }
    } finally {
      this.results.close();
      this.deadLetters.close();
      this.redis.disconnect();
    }
  }
}

/** The part files in a directory (which is created if missing): their part names and paths. */
function partFiles(dir: string, ext: string): { name: string; path: string }[] {
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false) throw new JobError(`${dir}: a file, but under attnflow worker a file sink's path (and deadLetter) is the directory its part files go in`);
  mkdirSync(dir, { recursive: true });
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .map((f) => ({ name: f.slice(0, -ext.length), path: join(dir, f) }));
}

/** Refuses, before anything is written, a directory that does not hold what Redis says was committed to it. */
function checkParts(listed: { name: string; path: string }[], parts: PartState[], at: { dir: string; deadDir: string; ext: string }, ledger: PartLedger): void {
  const startOver = `to start over, use another path or remove the directories and the Redis keys ${ledger.ids}, ${ledger.parts} and ${ledger.counter}`;
  const known = new Set(parts.map((p) => p.name));
  for (const f of listed) {
    if (!known.has(f.name)) throw new JobError(`${f.path}: not a part that Redis (${ledger.parts}) knows of: the directory holds another run's output; ${startOver}`);
  }
  for (const p of parts) {
    for (const [path, bytes] of [[join(at.dir, `${p.name}${at.ext}`), p.results], [join(at.deadDir, `${p.name}${DEAD_LETTER_EXT}`), p.deadLetters]] as const) {
      const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      if (size < bytes) throw new JobError(`${path}: ${size} bytes, but ${bytes} are committed to it (per ${ledger.parts}): restore it, or ${startOver}`);
    }
  }
}
