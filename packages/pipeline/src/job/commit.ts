import type { Hash } from 'node:crypto';
import type { Table } from 'apache-arrow';
import { deadLetterRecord, type OutputRow } from '../outputs.js';
import type { SourceRecord } from '../sources.js';
import { digestRecord, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import type { DurableFile } from './durable.js';
import { jsonLine } from './jsonLine.js';
import type { ArrowParts } from './parts.js';

/** A finished record: where it is in the order, what it was read as, and what goes out. */
export interface Finished {
  seq: number;
  source: SourceRecord;
  row: OutputRow;
  tokens: number;
}

export interface Outputs {
  stdout: boolean;
  jsonl?: DurableFile;
  deadLetter?: DurableFile;
  parts?: ArrowParts;
  checkpoint?: string;
  includeText: boolean;
  /** The Arrow record batch of a chunk's good rows. */
  table: (rows: OutputRow[]) => Table;
}

/**
 * Commits finished records in input order, a chunk at a time: output lines (or an Arrow part) and dead letters
 * are written and fsynced, then the checkpoint is replaced atomically. Chunks depend only on record order, and
 * each record's output does not depend on its batch, so a run killed anywhere resumes to exactly the output an
 * uninterrupted run writes.
 */
export class Committer {
  private readonly waiting = new Map<number, Finished>();
  private next: number;
  private chunk: Finished[] = [];

  constructor(
    readonly ck: Checkpoint,
    private readonly out: Outputs,
    private readonly inputHash: Hash,
    private readonly chunkSize: number,
    private readonly released: (n: number) => void,
  ) {
    this.next = ck.committed;
  }

  add(f: Finished): void {
    this.waiting.set(f.seq, f);
    for (let d = this.waiting.get(this.next); d; d = this.waiting.get(this.next)) {
      this.waiting.delete(this.next++);
      this.chunk.push(d);
      if (this.chunk.length === this.chunkSize) this.commit();
    }
  }

  /** Commits a partial last chunk: only at the real end, so chunk boundaries never depend on a stop. */
  finish(): void {
    if (this.chunk.length) this.commit();
  }

  /** Records, failures and tokens including the chunk being filled (for progress). */
  get pending() {
    return { records: this.chunk.length, tokens: this.chunk.reduce((n, f) => n + f.tokens, 0) };
  }

  private commit(): void {
    const { out, ck } = this;
    const good = this.chunk.filter((f) => !f.row.error).map((f) => f.row);
    const bad = this.chunk.filter((f) => f.row.error).map((f) => f.row);
    for (const r of good) {
      for (const piece of jsonLine(r, out.includeText)) {
        if (out.stdout) process.stdout.write(piece);
        out.jsonl?.append(piece);
      }
    }
    for (const r of bad) out.deadLetter?.append(`${JSON.stringify(deadLetterRecord(r))}\n`);
    if (out.parts && good.length) out.parts.append(out.table(good));
    out.jsonl?.sync();
    out.deadLetter?.sync();
    for (const f of this.chunk) digestRecord(this.inputHash, f.source);
    ck.committed += this.chunk.length;
    ck.ok += good.length;
    ck.failed += bad.length;
    ck.tokens += this.chunk.reduce((n, f) => n + f.tokens, 0);
    ck.inputDigest = this.inputHash.copy().digest('hex');
    if (out.jsonl) ck.output = { bytes: out.jsonl.bytes, sha256: out.jsonl.digest() };
    if (out.deadLetter) ck.deadLetter = { bytes: out.deadLetter.bytes, sha256: out.deadLetter.digest() };
    if (out.parts) ck.parts = out.parts.state();
    if (out.checkpoint) writeCheckpoint(out.checkpoint, ck);
    this.released(this.chunk.length);
    this.chunk = [];
  }
}
