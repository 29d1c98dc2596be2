import { createReadStream, statSync } from 'node:fs';
import { arrowFile } from './sources/arrow.js';
import { csvFile } from './sources/csv.js';
import { sourceFiles } from './sources/glob.js';
import { jsonlFile } from './sources/jsonl.js';
import { SourceError, type Raw, type SourceRecord } from './sources/record.js';
import { textFile } from './sources/text.js';

export { expandGlob, sourceFiles } from './sources/glob.js';
export { getPath } from './sources/jsonl.js';
export { MAX_LINE_BYTES, SourceError, type SourceRecord } from './sources/record.js';

export type SourceType = 'text' | 'jsonl' | 'csv' | 'arrow' | 'stdin';

export interface SourceConfig {
  type: SourceType;
  /** A file, or a glob (`*`, `?`, `**`) matched in sorted order. Ignored for stdin. */
  path?: string;
  /** jsonl: a dotted field path; csv: a column name (or 0-based number without a header); arrow: a column. Default "text". */
  field?: string;
  /** The second text (e.g. the context for qa), same addressing as `field`. */
  pairField?: string;
  /** jsonl: a dotted field path to each record's whole conversation (an array of {role, content}), instead of a text. */
  messagesField?: string;
  /** csv: the first row names the columns (default true). */
  header?: boolean;
  /** csv: field separator (default ","). */
  delimiter?: string;
  /** stdin: how lines are read (text or jsonl; default text). */
  format?: 'text' | 'jsonl';
}

/** The files a source reads, checked (glob matches, regular files); stdin has none. */
export function sourcePaths(cfg: SourceConfig): string[] {
  if (cfg.type === 'stdin') return [];
  if (!cfg.path) throw new SourceError(`a ${cfg.type} source needs a "path"`);
  return sourceFiles(cfg.path);
}

function fileRecords(cfg: SourceConfig, file: string, stdin: AsyncIterable<Buffer | string>): AsyncGenerator<Raw> {
  const stream = () => (file === '-' ? stdin : createReadStream(file, { highWaterMark: 1 << 20 }));
  const name = file === '-' ? '<stdin>' : file;
  const field = cfg.field ?? 'text';
  switch (cfg.type === 'stdin' ? cfg.format ?? 'text' : cfg.type) {
    case 'text':
      return textFile(stream(), name);
    case 'jsonl':
      return jsonlFile(stream(), name, cfg.messagesField === undefined ? { field, pairField: cfg.pairField } : { messagesField: cfg.messagesField });
    case 'csv':
      return csvFile(stream(), name, { field, pairField: cfg.pairField, header: cfg.header ?? true, delimiter: cfg.delimiter ?? ',' });
    default:
      return arrowFile(file, field, cfg.pairField);
  }
}

/** The records of a source, in order, with global indices. */
export async function* readSource(cfg: SourceConfig, stdin: AsyncIterable<Buffer | string> = process.stdin): AsyncGenerator<SourceRecord> {
  const files = cfg.type === 'stdin' ? ['-'] : sourcePaths(cfg);
  let index = 0;
  for (const file of files) {
    for await (const r of fileRecords(cfg, file, stdin)) yield { index: index++, ...r };
  }
}

/** Total bytes of the source's files (for an ETA), or undefined for stdin. */
export function sourceBytes(cfg: SourceConfig): number | undefined {
  if (cfg.type === 'stdin' || !cfg.path) return undefined;
  return sourcePaths(cfg).reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
}
