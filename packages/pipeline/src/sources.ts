import { createReadStream, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';

/**
 * Where records come from. Every source yields raw records in a fixed order with a global index, so a job
 * can be resumed (skip the first N) and sharded (index mod n) deterministically. A record that cannot be
 * read (invalid UTF-8, bad JSON or CSV, empty or missing text) is yielded with an `error` and goes to the
 * dead-letter file; it still takes its place in the order.
 */
export interface SourceRecord {
  index: number;
  text: string;
  pair?: string;
  file: string;
  line: number;
  error?: string;
}

export type SourceType = 'text' | 'jsonl' | 'csv' | 'arrow' | 'stdin';

export interface SourceConfig {
  type: SourceType;
  /** A file, or a glob (`*`, `?`, `**`) matched in sorted order. Ignored for stdin. */
  path?: string;
  /** jsonl: a dotted field path; csv: a column name (or 0-based number without a header); arrow: a column. Default "text". */
  field?: string;
  /** The second text (e.g. the context for qa), same addressing as `field`. */
  pairField?: string;
  /** csv: the first row names the columns (default true). */
  header?: boolean;
  /** csv: field separator (default ","). */
  delimiter?: string;
  /** stdin: how lines are read (text or jsonl; default text). */
  format?: 'text' | 'jsonl';
}

/** Lines longer than this are refused (dead-lettered) instead of buffered without bound. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export class SourceError extends Error {
  override name = 'SourceError';
}

/** Expands a path with `*`, `?` and `**` into sorted file paths; a plain path is returned as is. */
export function expandGlob(pattern: string): string[] {
  if (!/[*?]/.test(pattern)) return [relative(process.cwd(), pattern) || pattern];
  const parts = resolve(pattern).split('/');
  const firstGlob = parts.findIndex((p) => /[*?]/.test(p));
  const root = parts.slice(0, firstGlob).join('/') || '/';
  const rest = parts.slice(firstGlob);
  const toRegex = (seg: string) => new RegExp(`^${seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  const out: string[] = [];
  const walk = (dir: string, i: number) => {
    if (i === rest.length) {
      if (statSync(dir, { throwIfNoEntry: false })?.isFile()) out.push(dir);
      return;
    }
    if (rest[i] === '**') {
      walk(dir, i + 1);
      for (const e of safeList(dir)) if (e.isDirectory()) walk(join(dir, e.name), i);
      return;
    }
    const re = toRegex(rest[i]);
    for (const e of safeList(dir)) if (re.test(e.name)) walk(join(dir, e.name), i + 1);
  };
  walk(root, 0);
  const unique = [...new Set(out)].sort();
  if (!unique.length) throw new SourceError(`${pattern}: no files match`);
  return unique.map((f) => relative(process.cwd(), f) || basename(f));
}

function safeList(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  } catch {
    return [];
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Raw lines of a byte stream (LF or CRLF), as bytes, with line numbers; bounded by MAX_LINE_BYTES. */
async function* lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<{ bytes: Buffer; line: number; tooLong?: boolean }> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let line = 0;
  let skipping = false;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      line++;
      const piece = buf.subarray(start, nl);
      start = nl + 1;
      if (skipping || carryLen + piece.length > MAX_LINE_BYTES) {
        yield { bytes: Buffer.alloc(0), line, tooLong: true };
      } else {
        let bytes = carryLen ? Buffer.concat([...carry, piece]) : piece;
        if (bytes.length && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1);
        yield { bytes, line };
      }
      carry = [];
      carryLen = 0;
      skipping = false;
    }
    const tail = buf.subarray(start);
    if (carryLen + tail.length > MAX_LINE_BYTES) {
      skipping = true;
      carry = [];
      carryLen = 0;
    } else if (tail.length) {
      carry.push(Buffer.from(tail));
      carryLen += tail.length;
    }
  }
  if (carryLen || skipping) {
    line++;
    if (skipping) yield { bytes: Buffer.alloc(0), line, tooLong: true };
    else {
      let bytes = Buffer.concat(carry);
      if (bytes.length && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1);
      yield { bytes, line };
    }
  }
}

function decodeLine(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** `a.b.c` in a parsed JSON value. */
export function getPath(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

type Raw = Omit<SourceRecord, 'index'>;

function textRecord(file: string, line: number, text: unknown, pair: unknown, field: string, pairField?: string): Raw {
  if (typeof text !== 'string') return { text: '', file, line, error: text === undefined ? `no field "${field}"` : `field "${field}" is ${typeof text}, expected a string` };
  if (pairField !== undefined && typeof pair !== 'string') return { text, file, line, error: `no string field "${pairField}"` };
  if (!text.trim()) return { text, file, line, error: 'empty text' };
  return { text, pair: pair as string | undefined, file, line };
}

async function* textFile(stream: AsyncIterable<Buffer | string>, file: string): AsyncGenerator<Raw> {
  for await (const l of lines(stream)) {
    if (l.tooLong) {
      yield { text: '', file, line: l.line, error: `line longer than ${MAX_LINE_BYTES} bytes` };
      continue;
    }
    const text = decodeLine(l.bytes);
    if (text === undefined) yield { text: '', file, line: l.line, error: 'invalid UTF-8' };
    else yield textRecord(file, l.line, text, undefined, 'text');
  }
}

async function* jsonlFile(stream: AsyncIterable<Buffer | string>, file: string, field: string, pairField?: string): AsyncGenerator<Raw> {
  for await (const l of lines(stream)) {
    if (l.tooLong) {
      yield { text: '', file, line: l.line, error: `line longer than ${MAX_LINE_BYTES} bytes` };
      continue;
    }
    const s = decodeLine(l.bytes);
    if (s === undefined) {
      yield { text: '', file, line: l.line, error: 'invalid UTF-8' };
      continue;
    }
    if (!s.trim()) continue; // blank lines between JSON objects are not records
    let obj: unknown;
    try {
      obj = JSON.parse(s);
    } catch (e) {
      yield { text: '', file, line: l.line, error: `invalid JSON: ${(e as Error).message}` };
      continue;
    }
    yield textRecord(file, l.line, getPath(obj, field), pairField ? getPath(obj, pairField) : undefined, field, pairField);
  }
}

/** Bytes of one field, grown as needed. */
class FieldBuffer {
  private buf = Buffer.alloc(256);
  length = 0;
  push(byte: number): void {
    if (this.length === this.buf.length) {
      const next = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(next);
      this.buf = next;
    }
    this.buf[this.length++] = byte;
  }
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

/**
 * RFC 4180 CSV over a byte stream: quoted fields may hold delimiters, doubled quotes and newlines. It parses
 * bytes (quotes, delimiters and newlines are ASCII and never occur inside a UTF-8 sequence), so a row with
 * invalid UTF-8 is reported on its own instead of spoiling the file.
 */
async function* csvRows(stream: AsyncIterable<Buffer | string>, delimiter: number): AsyncGenerator<{ fields: string[]; line: number; error?: string }> {
  const field = new FieldBuffer();
  let raw: Buffer[] = [];
  let inQuotes = false;
  let afterQuote = false;
  let line = 1;
  let rowLine = 1;
  let rowBytes = 0;
  let bad: string | undefined;
  let pendingQuote = false; // a quote inside quotes at a chunk end: escape or close, decided by the next byte
  const endField = () => {
    raw.push(field.take());
    afterQuote = false;
  };
  const endRow = () => {
    endField();
    const decoded: string[] = [];
    for (const f of raw) {
      try {
        decoded.push(utf8.decode(f));
      } catch {
        bad ??= 'invalid UTF-8';
        decoded.push('');
      }
    }
    const row = { fields: decoded, line: rowLine, error: bad };
    raw = [];
    bad = undefined;
    rowBytes = 0;
    return row;
  };
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (++rowBytes > MAX_LINE_BYTES) bad ??= `row longer than ${MAX_LINE_BYTES} bytes`;
      if (pendingQuote) {
        pendingQuote = false;
        if (c === 34) {
          if (!bad) field.push(34);
          continue;
        }
        inQuotes = false;
        afterQuote = true;
      }
      if (inQuotes) {
        if (c === 34) {
          if (i + 1 < buf.length) {
            if (buf[i + 1] === 34) {
              if (!bad) field.push(34);
              i++;
            } else {
              inQuotes = false;
              afterQuote = true;
            }
          } else pendingQuote = true;
        } else {
          if (c === 10) line++;
          if (!bad) field.push(c);
        }
        continue;
      }
      if (c === 34 && field.length === 0 && !afterQuote) inQuotes = true;
      else if (c === delimiter) endField();
      else if (c === 10 || c === 13) {
        if (c === 13 && buf[i + 1] === 10) i++;
        const row = endRow();
        if (!(row.fields.length === 1 && row.fields[0] === '' && !row.error)) yield row;
        line++;
        rowLine = line;
      } else {
        if (afterQuote) bad ??= 'characters after a closing quote';
        if (!bad) field.push(c);
      }
    }
  }
  if (pendingQuote) inQuotes = false;
  if (inQuotes) bad ??= 'unterminated quoted field';
  if (field.length || raw.length || bad) yield endRow();
}

function delimiterByte(d: string | undefined, file: string): number {
  const c = d ?? ',';
  if (c.length !== 1 || c.charCodeAt(0) > 127 || c === '"' || c === '\n' || c === '\r') throw new SourceError(`${file}: CSV delimiter must be one ASCII character other than a quote or newline, got ${JSON.stringify(c)}`);
  return c.charCodeAt(0);
}

async function* csvFile(stream: AsyncIterable<Buffer | string>, file: string, cfg: SourceConfig): AsyncGenerator<Raw> {
  const header = cfg.header ?? true;
  const field = cfg.field ?? 'text';
  let columns: string[] | undefined;
  const column = (name: string) => {
    if (columns) {
      const at = columns.indexOf(name);
      if (at < 0) throw new SourceError(`${file}: no column "${name}" (columns: ${columns.join(', ')})`);
      return at;
    }
    const at = Number(name);
    if (!Number.isInteger(at) || at < 0) throw new SourceError(`${file}: without a header, "field" must be a column number (got "${name}")`);
    return at;
  };
  let textAt = -1;
  let pairAt = -1;
  for await (const row of csvRows(stream, delimiterByte(cfg.delimiter, file))) {
    if (header && !columns) {
      columns = row.fields;
      textAt = column(field);
      if (cfg.pairField) pairAt = column(cfg.pairField);
      continue;
    }
    if (textAt < 0) {
      textAt = column(field);
      if (cfg.pairField) pairAt = column(cfg.pairField);
    }
    if (row.error) yield { text: '', file, line: row.line, error: `unparsable CSV row: ${row.error}` };
    else if (columns && row.fields.length !== columns.length) yield { text: '', file, line: row.line, error: `CSV row has ${row.fields.length} fields, the header has ${columns.length}` };
    else yield textRecord(file, row.line, row.fields[textAt], pairAt >= 0 ? row.fields[pairAt] : undefined, field, cfg.pairField);
  }
}

async function* arrowFile(file: string, cfg: SourceConfig): AsyncGenerator<Raw> {
  const field = cfg.field ?? 'text';
  let row = 0;
  const reader = await RecordBatchReader.from(createReadStream(file));
  for await (const batch of reader) {
    const col = batch.getChild(field);
    if (!col) throw new SourceError(`${file}: no column "${field}" (columns: ${batch.schema.fields.map((f) => f.name).join(', ')})`);
    const pairCol = cfg.pairField ? batch.getChild(cfg.pairField) : undefined;
    if (cfg.pairField && !pairCol) throw new SourceError(`${file}: no column "${cfg.pairField}"`);
    for (let i = 0; i < batch.numRows; i++) {
      row++;
      yield textRecord(file, row, col.get(i) ?? undefined, pairCol?.get(i) ?? undefined, field, cfg.pairField);
    }
  }
}

/** The records of a source, in order, with global indices. */
export async function* readSource(cfg: SourceConfig, stdin: AsyncIterable<Buffer | string> = process.stdin): AsyncGenerator<SourceRecord> {
  const files = cfg.type === 'stdin' ? ['-'] : expandGlob(cfg.path ?? missingPath(cfg.type));
  let index = 0;
  for (const file of files) {
    if (file !== '-' && !statSync(file, { throwIfNoEntry: false })?.isFile()) throw new SourceError(`${file}: no such file`);
    const stream = () => (file === '-' ? stdin : createReadStream(file, { highWaterMark: 1 << 20 }));
    const name = file === '-' ? '<stdin>' : file;
    const type = cfg.type === 'stdin' ? cfg.format ?? 'text' : cfg.type;
    const raw = type === 'text' ? textFile(stream(), name) : type === 'jsonl' ? jsonlFile(stream(), name, cfg.field ?? 'text', cfg.pairField) : type === 'csv' ? csvFile(stream(), name, cfg) : arrowFile(file, cfg);
    for await (const r of raw) yield { index: index++, ...r };
  }
}

function missingPath(type: string): never {
  throw new SourceError(`a ${type} source needs a "path"`);
}

/** Total bytes of the source's files (for an ETA), or undefined for stdin. */
export function sourceBytes(cfg: SourceConfig): number | undefined {
  if (cfg.type === 'stdin' || !cfg.path) return undefined;
  return expandGlob(cfg.path).reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
}
