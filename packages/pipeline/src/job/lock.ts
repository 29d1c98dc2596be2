import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { JobError } from './durable.js';

interface Holder {
  pid: number;
  host: string;
  since: string;
  token: string;
}

/** Locks this process holds (a lock file naming this pid but not in here is a dead run's: same pid, new process). */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/** A lock written by a run that has ended: same host, and its pid is gone (or is this process, which does not hold it). */
function stale(h: Holder, path: string): boolean {
  if (h.host !== hostname()) return false;
  return h.pid === process.pid ? !held.has(path) : !alive(h.pid);
}

/**
 * One writer per output: `<output>.lock` holds the owner's pid and host. It is created atomically (a fully
 * written temporary file hard-linked into place, which fails if the lock exists), removed on release or exit,
 * and taken over when its owner is a process on this host that no longer runs (a SIGKILLed run). A lock
 * from another host cannot be checked, so it is reported, never broken.
 */
export class OutputLock {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  static acquire(output: string): OutputLock {
    const path = `${output}.lock`;
    mkdirSync(dirname(path), { recursive: true });
    const token = randomUUID();
    const tmp = `${path}.${process.pid}.${token}.tmp`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), token } satisfies Holder));
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(tmp, path);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new JobError(`${path}: cannot create the lock: ${(e as Error).message}`);
        }
        const holder = readHolder(path);
        if (attempt === 0 && holder && stale(holder, path)) {
          rmSync(path, { force: true });
          continue;
        }
        const who = holder ? `pid ${holder.pid} on ${holder.host}, since ${holder.since}` : 'an unreadable lock';
        throw new JobError(`${output} is being written by another run (${who}); wait for it to end, or if it is gone, delete ${path}`);
      }
    } finally {
      rmSync(tmp, { force: true });
    }
    const lock = new OutputLock(path, token);
    held.add(path);
    process.once('exit', lock.releaseOnExit);
    return lock;
  }

  private readonly releaseOnExit = () => this.remove();

  private remove(): void {
    held.delete(this.path);
    if (readHolder(this.path)?.token === this.token) rmSync(this.path, { force: true });
  }

  release(): void {
    process.removeListener('exit', this.releaseOnExit);
    this.remove();
  }
}
