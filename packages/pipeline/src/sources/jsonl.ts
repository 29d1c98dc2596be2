import { lines, tooLongError } from './lines.js';
import { conversationRecord, decodeUtf8, textRecord, type Raw } from './record.js';

/** `a.b.c` in a parsed JSON value. */
export function getPath(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Where a JSON line's input is: a text (and its pair), or a whole conversation, at dotted field paths. */
export type JsonlFields = { field: string; pairField?: string } | { messagesField: string };

/** One JSON object per line; the text (and pair), or the conversation, at dotted field paths. */
export async function* jsonlFile(stream: AsyncIterable<Buffer | string>, file: string, fields: JsonlFields): AsyncGenerator<Raw> {
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
    if ('messagesField' in fields) yield conversationRecord(file, l.line, getPath(obj, fields.messagesField), fields.messagesField);
    else yield textRecord(file, l.line, getPath(obj, fields.field), fields.pairField ? getPath(obj, fields.pairField) : undefined, fields.field, fields.pairField);
  }
}
