import { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { MAX_LINE_BYTES, SourceError, decodeUtf8, textRecord, type Raw } from './record.js';

export interface CsvOptions {
  /** A column name, or a 0-based column number without a header. */
  field: string;
  pairField?: string;
  /** The first row names the columns. */
  header: boolean;
  delimiter: string;
}

function checkDelimiter(d: string, file: string): string {
  if (d.length !== 1 || d.charCodeAt(0) > 127 || d === '"' || d === '\n' || d === '\r') throw new SourceError(`${file}: CSV delimiter must be one ASCII character other than a quote or newline, got ${JSON.stringify(d)}`);
  return d;
}

/**
 * RFC 4180 CSV through csv-parse. Fields are parsed as latin1 (one char per byte, so nothing is decoded yet) and
 * each is then decoded as strict UTF-8 on its own: a row with invalid UTF-8 is dead-lettered instead of getting
 * U+FFFD, and an unparsable row (csv-parse's skipped record) is dead-lettered with the parser's reason.
 */
export async function* csvFile(stream: AsyncIterable<Buffer | string>, file: string, options: CsvOptions): AsyncGenerator<Raw> {
  const skipped: { line: number; error: string }[] = [];
  // csv-parse counts CR and LF inside a quoted field as a line each; `drift` is how far that has run ahead of
  // the file's real line numbers (CRLF counts one).
  let drift = 0;
  const parser = Readable.from(stream).pipe(
    parse({
      delimiter: checkDelimiter(options.delimiter, file),
      encoding: 'latin1',
      info: true,
      raw: true,
      record_delimiter: ['\r\n', '\n', '\r'],
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (e) => {
        // csv-parse buffers an unterminated quote to the end of the file: refuse that file rather than hold it all.
        if (e && e.code === 'CSV_MAX_RECORD_SIZE') throw e;
        if (e) skipped.push({ line: (e as CsvError & { lines: number }).lines - drift, error: e.message });
      },
      max_record_size: MAX_LINE_BYTES,
    }),
  );
  // Skipped rows are reported by csv-parse while it parses ahead; they are released in line order.
  const skippedBefore = function* (line: number): Generator<Raw> {
    while (skipped.length && skipped[0].line <= line) {
      const s = skipped.shift()!;
      yield { text: '', file, line: s.line, error: `unparsable CSV row: ${s.error}` };
    }
  };
  let columns: string[] | undefined;
  let textAt = -1;
  let pairAt = -1;
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
  try {
    for await (const { info, record } of parser as AsyncIterable<{ info: { lines: number; raw: string }; record: string[] }>) {
      // info.lines is where the row ends; a quoted field may span lines, so count back to where it starts.
      const inside = info.raw.replace(/(\r\n|\n|\r)$/, '');
      const counted = inside.match(/[\r\n]/g)?.length ?? 0;
      const line = info.lines - counted - drift;
      drift += counted - (inside.match(/\r\n|\r|\n/g)?.length ?? 0);
      yield* skippedBefore(line);
      const fields = record.map((f) => decodeUtf8(Buffer.from(f, 'latin1')));
      if (options.header && !columns) {
        if (fields.some((f) => f === undefined)) throw new SourceError(`${file}:${line}: the header row is not valid UTF-8`);
        columns = fields as string[];
        textAt = column(options.field);
        if (options.pairField) pairAt = column(options.pairField);
        continue;
      }
      if (textAt < 0) {
        textAt = column(options.field);
        if (options.pairField) pairAt = column(options.pairField);
      }
      if (fields.some((f) => f === undefined)) yield { text: '', file, line, error: 'unparsable CSV row: invalid UTF-8' };
      else if (columns && fields.length !== columns.length) yield { text: '', file, line, error: `CSV row has ${fields.length} fields, the header has ${columns.length}` };
      else yield textRecord(file, line, fields[textAt], pairAt >= 0 ? fields[pairAt] : undefined, options.field, options.pairField);
    }
  } catch (e) {
    if (e instanceof CsvError) throw new SourceError(`${file}: ${e.message}`);
    throw e;
  }
  yield* skippedBefore(Infinity);
}
