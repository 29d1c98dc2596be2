import { jsonRecord, type OutputRow } from '../outputs.js';
import { isLong, textPieces } from './textPieces.js';

/**
 * The output line of a row (JSON and a newline) in pieces whose concatenation is exactly
 * `JSON.stringify(jsonRecord(row)) + "\n"`, without building that string: with a 40 MB text it would cost
 * two more copies of the text per record. The texts are left empty in the JSON and streamed into their places.
 */
export function* jsonLine(row: OutputRow, includeText: boolean): Generator<string> {
  if (!includeText || !(isLong(row.text) || isLong(row.pair))) {
    yield `${JSON.stringify(jsonRecord(row, includeText))}\n`;
    return;
  }
  // index, file and line come first and their strings are escaped, so the first `"text":""` is the text's place.
  const json = JSON.stringify(jsonRecord({ ...row, text: '', pair: row.pair === undefined ? undefined : '' }, includeText));
  let at = 0;
  for (const [key, value] of [['text', row.text], ['pair', row.pair]] as const) {
    if (value === undefined) continue;
    const slot = json.indexOf(`"${key}":""`, at) + key.length + 4;
    yield json.slice(at, slot);
    // JSON escapes per character (a pair's halves stay together), so the pieces' escapes are the whole's.
    for (const piece of textPieces(value)) yield JSON.stringify(piece).slice(1, -1);
    at = slot;
  }
  yield `${json.slice(at)}\n`;
}
