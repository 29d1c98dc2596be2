import { RecordBatchStreamWriter, Utf8, vectorFromArray, type Table } from 'apache-arrow';
import { resultTable } from '../outputs.js';
import type { TaskName } from '../tasks/index.js';
import type { StreamOutput } from './sink.js';

/** How a worker's results are laid out in its part file: appended a commit at a time, readable up to any commit. */
export interface PartFormat {
  /** The part file's extension. */
  ext: string;
  /** The bytes of a commit's results; `startsFile` when they are the first bytes of the part. */
  encode(rows: StreamOutput[], startsFile: boolean): Buffer;
}

/** One JSON object per line, as the redis sink's `record` field holds it. */
export const jsonlFormat: PartFormat = {
  ext: '.jsonl',
  encode: (rows) => Buffer.from(rows.map((r) => `${JSON.stringify(r.record)}\n`).join('')),
};

// An IPC stream message starts with the continuation marker (0xFFFFFFFF) and its metadata length; a schema
// message has no body. The end-of-stream marker is the same 8 bytes with length 0.
const END_OF_STREAM = 8;
const schemaMessageLength = (bytes: Uint8Array) => 8 + new DataView(bytes.buffer, bytes.byteOffset).getInt32(4, true);

/**
 * The Arrow IPC stream format: the schema once, at the start of the part, then a record batch per commit, without
 * an end-of-stream marker (readers end at the end of the file), so a part cut at any committed length is a whole
 * stream. Columns: id (the source entry's), text (unless includeText is false), then the task's as in a job.
 */
export function arrowFormat(task: TaskName, includeText: boolean, dim: number): PartFormat {
  const table = (rows: StreamOutput[]): Table =>
    resultTable(task, { id: vectorFromArray(rows.map((r) => r.id), new Utf8()) }, includeText ? rows.map((r) => r.text ?? '') : undefined, rows.map((r) => r.result!), dim);
  return {
    ext: '.arrows',
    encode(rows, startsFile) {
      const stream = RecordBatchStreamWriter.writeAll(table(rows)).toUint8Array(true);
      return Buffer.from(stream.subarray(startsFile ? 0 : schemaMessageLength(stream), stream.length - END_OF_STREAM));
    },
  };
}
