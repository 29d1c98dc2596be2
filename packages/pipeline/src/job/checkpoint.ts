import { createHash, type Hash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { SourceRecord } from '../sources.js';
import { JobError, readPrefix, writeAtomically, type Prefix } from './durable.js';
import { textPieces } from './textPieces.js';

/** A file the run appends to, as far as it is committed. */
export interface CommittedFile {
  bytes: number;
  sha256: string;
}

/** A source file as it was when the run started: resuming over a changed input would mix old and new records. */
export interface InputFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * What a run has committed, rewritten atomically after every chunk. Besides the counts it holds what --resume
 * checks before it writes anything: the pipeline's fingerprint, the input files, a hash of the committed records
 * as read from the source, and the length and hash of every output's committed part.
 */
export interface Checkpoint {
  version: 2;
  /** Hash of model, task, source, sink, options and shard. */
  fingerprint: string;
  /** Records (of this shard, in order) whose output is written. */
  committed: number;
  ok: number;
  failed: number;
  tokens: number;
  inputs: InputFile[];
  /** sha256 over the committed records as read (file, line, text, pair, read error). */
  inputDigest: string;
  output?: CommittedFile;
  deadLetter?: CommittedFile;
  /** Arrow sink: committed part files and the sha256 of their bytes in order. */
  parts?: { count: number; sha256: string };
  /** sha256 of the rest of this object: an edited or torn checkpoint is refused, not trusted. */
  sum?: string;
}

const sumOf = (ck: Checkpoint) => createHash('sha256').update(JSON.stringify({ ...ck, sum: undefined })).digest('hex');

export function inputFiles(paths: readonly string[]): InputFile[] {
  return paths.map((path) => {
    const s = statSync(path);
    return { path, size: s.size, mtimeMs: s.mtimeMs };
  });
}

/** Adds one record, as read, to a digest of the input (the order of calls is the record order). */
export function digestRecord(hash: Hash, r: SourceRecord): void {
  hash.update(`${JSON.stringify([r.index, r.file, r.line, r.error ?? null, r.text.length, r.pair?.length ?? -1])}\n`);
  // In pieces: hashing a string converts it to UTF-8 whole first, a second copy of a 40 MB text.
  for (const piece of textPieces(r.text)) hash.update(piece);
  for (const piece of textPieces(r.pair ?? '')) hash.update(piece);
  if (r.messages) hash.update(JSON.stringify(r.messages));
}


export function writeCheckpoint(path: string, ck: Checkpoint): void {
  writeAtomically(path, JSON.stringify({ ...ck, sum: sumOf(ck) }));
}

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isFile = (v: unknown) => v === undefined || (typeof v === 'object' && v !== null && isCount((v as CommittedFile).bytes) && typeof (v as CommittedFile).sha256 === 'string');

/** Reads a checkpoint, refusing one that is unreadable, from another attnflow version, edited or inconsistent. */
export function readCheckpoint(path: string): Checkpoint {
  const again = 'delete it and start again with --overwrite';
  let ck: Checkpoint;
  try {
    ck = JSON.parse(readFileSync(path, 'utf8')) as Checkpoint;
  } catch (e) {
    throw new JobError(`${path}: the checkpoint cannot be read (${(e as Error).message}); ${again}`);
  }
  if (typeof ck !== 'object' || ck === null || ck.version !== 2) throw new JobError(`${path}: not a checkpoint this attnflow version writes (version ${JSON.stringify(ck?.version)}, expected 2); ${again}`);
  if (ck.sum !== sumOf(ck)) throw new JobError(`${path}: the checkpoint's checksum does not match its content (edited or corrupt); ${again}`);
  const fields = [ck.committed, ck.ok, ck.failed, ck.tokens];
  if (!fields.every(isCount) || !Array.isArray(ck.inputs) || !isFile(ck.output) || !isFile(ck.deadLetter)) throw new JobError(`${path}: the checkpoint has missing or malformed fields; ${again}`);
  if (ck.committed !== ck.ok + ck.failed) throw new JobError(`${path}: inconsistent checkpoint: ${ck.committed} records committed but ${ck.ok} ok + ${ck.failed} failed; ${again}`);
  return ck;
}

const restore = 'restore it, or start again with --overwrite';

/** Refuses to resume when a source file differs (list, size or modification time) from when the run started. */
export function checkInputs(ck: Checkpoint, now: InputFile[], checkpoint: string): void {
  const was = ck.inputs.map((f) => f.path).join(', ');
  const is = now.map((f) => f.path).join(', ');
  if (was !== is) throw new JobError(`the source's files are not those of the stopped run (now: ${is || 'none'}; then: ${was || 'none'}, per ${checkpoint}); resuming would mix inputs: ${restore}`);
  now.forEach((f, i) => {
    const old = ck.inputs[i];
    if (f.size !== old.size || f.mtimeMs !== old.mtimeMs) {
      throw new JobError(`${f.path}: changed since the stopped run read it (size ${old.size} → ${f.size} bytes, modified ${new Date(old.mtimeMs).toISOString()} → ${new Date(f.mtimeMs).toISOString()}); resuming would mix old and new records: ${restore}`);
    }
  });
}

/**
 * Checks that a file still holds what the run committed to it (never pads, never guesses): present, at least
 * that long, the same bytes, and as many lines as records. Returns the prefix's hash to go on from.
 */
export function checkCommitted(file: string, committed: CommittedFile | undefined, records: number, what: string, checkpoint: string): Prefix {
  const expected = committed ?? { bytes: 0, sha256: createHash('sha256').digest('hex') };
  const size = statSync(file, { throwIfNoEntry: false })?.size;
  if (size === undefined) {
    if (expected.bytes === 0) return { hash: createHash('sha256'), lines: 0 };
    throw new JobError(`${file}: missing, but ${checkpoint} says ${records} ${what} (${expected.bytes} bytes) were committed to it: ${restore}`);
  }
  if (size < expected.bytes) throw new JobError(`${file}: ${size} bytes, shorter than the ${expected.bytes} bytes committed to it (${records} ${what}, per ${checkpoint}); --resume never pads a file: ${restore}`);
  const prefix = readPrefix(file, expected.bytes);
  if (prefix.hash.copy().digest('hex') !== expected.sha256) throw new JobError(`${file}: its first ${expected.bytes} bytes are not what the run committed (changed after it stopped): ${restore}`);
  if (prefix.lines !== records) throw new JobError(`${checkpoint}: says ${records} ${what} are in ${file}, but its committed part has ${prefix.lines} lines; delete the checkpoint and start again with --overwrite`);
  return prefix;
}

