import { lines, tooLongError } from './lines.js';
import { decodeUtf8, textRecord, type Raw } from './record.js';

/** One record per line. */
export async function* textFile(stream: AsyncIterable<Buffer | string>, file: string): AsyncGenerator<Raw> {
  for await (const l of lines(stream)) {
    if (l.tooLong) {
      yield { text: '', file, line: l.line, error: tooLongError };
      continue;
    }
    const text = decodeUtf8(l.bytes);
    if (text === undefined) yield { text: '', file, line: l.line, error: 'invalid UTF-8' };
    else yield textRecord(file, l.line, text, undefined, 'text');
  }
}
