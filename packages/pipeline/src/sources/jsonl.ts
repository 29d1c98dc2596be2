import { lines, tooLongError } from './lines.js';
import { decodeUtf8, textRecord, type Raw } from './record.js';

/** `a.b.c` in a parsed JSON value. */
export function getPath(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** One JSON object per line; the text (and pair) at dotted field paths. */
export async function* jsonlFile(stream: AsyncIterable<Buffer | string>, file: string, field: string, pairField?: string): AsyncGenerator<Raw> {
  for await (const l of lines(stream)) {
    if (l.tooLong) {
      yield { text: '', file, line: l.line, error: tooLongError };
      continue;
    }
    const s = decodeUtf8(l.bytes);
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
