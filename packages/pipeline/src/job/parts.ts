import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import { RecordBatchFileWriter, RecordBatchReader, RecordBatchStreamWriter, tableFromIPC, tableToIPC, type Table } from 'apache-arrow';
import { JobError, writeDurably } from './durable.js';

/** The i-th committed record batch of an Arrow sink. */
const partFile = (dir: string, i: number) => join(dir, `part-${String(i).padStart(8, '0')}.arrows`);

/**
 * An Arrow sink's output while the run goes on: one Arrow IPC stream file per committed chunk in `<output>.parts`,
 * joined into the output file at the end. The sha256 of all part bytes in order goes into the checkpoint.
 */
export class ArrowParts {
  private constructor(
    readonly dir: string,
    public count: number,
    private readonly hash: Hash,
  ) {}

  /** A fresh run: no parts. */
  static start(dir: string): ArrowParts {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return new ArrowParts(dir, 0, createHash('sha256'));
  }

  /**
   * A resumed run: the committed parts must all be there with the committed bytes; parts written after the last
   * checkpoint (a kill between part and checkpoint) are not part of the output and are removed.
   */
  static resume(dir: string, committed: { count: number; sha256: string } | undefined, checkpoint: string): ArrowParts {
    const count = committed?.count ?? 0;
    const hash = createHash('sha256');
    const restore = 'restore it, or start again with --overwrite';
    if (count && !existsSync(dir)) throw new JobError(`${dir}: missing, but ${checkpoint} says ${count} committed parts are in it: ${restore}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < count; i++) {
      const file = partFile(dir, i);
      if (!existsSync(file)) throw new JobError(`${file}: missing, but ${checkpoint} says ${count} parts were committed: ${restore}`);
      hash.update(readFileSync(file));
    }
    if (hash.copy().digest('hex') !== (committed?.sha256 ?? createHash('sha256').digest('hex'))) throw new JobError(`${dir}: the committed parts are not what the run wrote (changed after it stopped): ${restore}`);
    const keep = new Set(Array.from({ length: count }, (_, i) => partFile(dir, i)));
    for (const name of readdirSync(dir)) if (!keep.has(join(dir, name))) rmSync(join(dir, name));
    return new ArrowParts(dir, count, hash);
  }

  append(table: Table): void {
    const bytes = RecordBatchStreamWriter.writeAll(table).toUint8Array(true);
    writeDurably(partFile(this.dir, this.count), bytes);
    this.hash.update(bytes);
    this.count++;
  }

  state(): { count: number; sha256: string } {
    return { count: this.count, sha256: this.hash.copy().digest('hex') };
  }

  /** Joins the parts into one Arrow IPC file (the format pyarrow.ipc.open_file reads) and removes them. */
  async combine(output: string, empty: () => Table): Promise<void> {
    const tmp = `${output}.tmp`;
    if (this.count === 0) writeFileSync(tmp, tableToIPC(empty(), 'file'));
    else {
      const writer = new RecordBatchFileWriter();
      const written = pipeStreams(writer.toNodeStream(), createWriteStream(tmp));
      for (let i = 0; i < this.count; i++) {
        for (const batch of tableFromIPC(readFileSync(partFile(this.dir, i))).batches) writer.write(batch);
      }
      writer.finish();
      await written;
    }
    renameSync(tmp, output);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Rows of a finished Arrow output, batch by batch. */
export async function arrowRows(path: string): Promise<number> {
  let rows = 0;
  for await (const batch of await RecordBatchReader.from(createReadStream(path))) rows += batch.numRows;
  return rows;
}
