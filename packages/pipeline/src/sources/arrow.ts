import { createReadStream } from 'node:fs';
import { DataType, RecordBatchReader, type Data, type RecordBatch, type Vector } from 'apache-arrow';
import { SourceError, decodeUtf8, textRecord, type Raw } from './record.js';

/**
 * The strings of one column of a record batch, read from the IPC buffers directly: apache-arrow's own getter
 * trusts the offsets (corrupt ones silently give a record other records' bytes) and decodes invalid UTF-8 as
 * U+FFFD. Here offsets are checked against the data buffer (a violation means the file is corrupt: refused)
 * and each value is decoded strictly (invalid UTF-8: that record is dead-lettered). Null is undefined;
 * non-string columns give their values as they are, for textRecord to reject.
 */
function* columnValues(file: string, batchNo: number, name: string, column: Vector): Generator<unknown> {
  let base = 0;
  for (const data of column.data as Data[]) {
    const first = base;
    base += data.length;
    if (!DataType.isUtf8(data.type) && !DataType.isLargeUtf8(data.type)) {
      for (let i = 0; i < data.length; i++) yield column.get(first + i) ?? undefined;
      continue;
    }
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    const values = data.values as Uint8Array;
    const corrupt = (why: string): never => {
      throw new SourceError(`${file}: record batch ${batchNo}, column "${name}": ${why} (corrupt Arrow file)`);
    };
    if (offsets.length < data.offset + data.length + 1) corrupt(`${offsets.length} string offsets for ${data.length} values`);
    for (let i = 0; i < data.length; i++) {
      const at = data.offset + i;
      const start = Number(offsets[at]);
      const end = Number(offsets[at + 1]);
      if (!(start >= 0 && end >= start && end <= values.length)) corrupt(`value ${i} has offsets ${start}..${end}, outside the ${values.length}-byte data buffer or reversed`);
      if (!data.getValid(i)) {
        yield undefined;
        continue;
      }
      const text = decodeUtf8(values.subarray(start, end));
      yield text === undefined ? invalidUtf8 : text;
    }
  }
}

/** Marks a value whose bytes are not UTF-8 (dead-lettered, not decoded with U+FFFD). */
const invalidUtf8 = Symbol('invalid UTF-8');

async function* batches(file: string): AsyncGenerator<RecordBatch> {
  let reader: RecordBatchReader;
  try {
    reader = await (await RecordBatchReader.from(createReadStream(file))).open();
  } catch (e) {
    throw new SourceError(`${file}: not a readable Arrow IPC file or stream (${(e as Error).message})`);
  }
  const it = reader[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<RecordBatch>;
    try {
      next = await it.next();
    } catch (e) {
      throw new SourceError(`${file}: truncated or corrupt Arrow data (${(e as Error).message})`);
    }
    if (next.done) return;
    yield next.value;
  }
}

/** One record per row of an Arrow IPC file or stream; the text (and pair) from named string columns. */
export async function* arrowFile(file: string, field: string, pairField?: string): AsyncGenerator<Raw> {
  let row = 0;
  let batchNo = 0;
  for await (const batch of batches(file)) {
    const col = batch.getChild(field);
    if (!col) throw new SourceError(`${file}: no column "${field}" (columns: ${batch.schema.fields.map((f) => f.name).join(', ')})`);
    const pairCol = pairField ? batch.getChild(pairField) : undefined;
    if (pairField && !pairCol) throw new SourceError(`${file}: no column "${pairField}"`);
    // Whole columns are checked before any of the batch's records is yielded, so a corrupt batch adds no records.
    const texts = [...columnValues(file, batchNo, field, col)];
    const pairs = pairCol ? [...columnValues(file, batchNo, pairField!, pairCol)] : [];
    batchNo++;
    for (let i = 0; i < batch.numRows; i++) {
      row++;
      if (texts[i] === invalidUtf8 || pairs[i] === invalidUtf8) yield { text: '', file, line: row, error: 'invalid UTF-8' };
      else yield textRecord(file, row, texts[i], pairs[i], field, pairField);
    }
  }
}
