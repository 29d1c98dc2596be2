import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, ftruncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class JobError extends Error {
  override name = 'JobError';
}

/** What a verified prefix of a file holds: its running sha256 (to go on from) and its newlines. */
export interface Prefix {
  hash: Hash;
  lines: number;
}

/**
 * sha256 and newline count of a file's first `bytes` bytes, read in 1 MiB pieces (outputs can be far larger than
 * memory should hold). The caller has checked that the file has that many bytes.
 */
export function readPrefix(path: string, bytes: number): Prefix {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(1 << 20);
  let lines = 0;
  try {
    for (let done = 0; done < bytes; ) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, bytes - done), done);
      if (n === 0) throw new JobError(`${path}: ended at byte ${done} while reading its first ${bytes} bytes`);
      const piece = buffer.subarray(0, n);
      hash.update(piece);
      for (let at = piece.indexOf(0x0a); at >= 0; at = piece.indexOf(0x0a, at + 1)) lines++;
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return { hash, lines };
}

/** Newlines in a whole file. */
export const countLines = (path: string): number => {
  const fd = openSync(path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
  return readPrefix(path, size).lines;
};

/**
 * Appends to a file with fsync on commit and keeps the sha256 of everything committed to it, for the checkpoint.
 * It continues a verified prefix: bytes after it (written after the last checkpoint by a killed run) are cut
 * off. It never extends a file: a shorter file than the prefix is refused before it gets here.
 */
export class DurableFile {
  private fd: number;
  private readonly hash: Hash;
  bytes: number;
  constructor(readonly path: string, keep: { bytes: number; hash: Hash } = { bytes: 0, hash: createHash('sha256') }) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, keep.bytes ? 'r+' : 'w+');
    if (fstatSync(this.fd).size < keep.bytes) {
      closeSync(this.fd);
      throw new JobError(`${path}: shorter than the ${keep.bytes} committed bytes; not padding it`);
    }
    ftruncateSync(this.fd, keep.bytes);
    this.bytes = keep.bytes;
    this.hash = keep.hash;
  }
  append(text: string): void {
    if (!text) return;
    const buf = Buffer.from(text);
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, this.bytes + done);
    this.hash.update(buf);
    this.bytes += buf.length;
  }
  sync(): void {
    fsyncSync(this.fd);
  }
  /** sha256 of the file's content so far (the hash goes on). */
  digest(): string {
    return this.hash.copy().digest('hex');
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Writes a whole file and fsyncs it before returning. */
export function writeDurably(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces a file so that a reader sees the old or the new content, never a torn one. */
export function writeAtomically(path: string, text: string): void {
  writeDurably(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
