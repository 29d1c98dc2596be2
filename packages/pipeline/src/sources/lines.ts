import { MAX_LINE_BYTES } from './record.js';

export interface Line {
  bytes: Buffer;
  /** 1-based line number. */
  line: number;
  /** Longer than MAX_LINE_BYTES: its bytes were dropped instead of buffered. */
  tooLong?: boolean;
}

const withoutCR = (bytes: Buffer) => (bytes.length && bytes[bytes.length - 1] === 13 ? bytes.subarray(0, bytes.length - 1) : bytes);

/**
 * Raw lines of a byte stream (LF or CRLF), as bytes: split before decoding, so one line of invalid UTF-8 is
 * reported on its own instead of spoiling the file. A line over MAX_LINE_BYTES is skipped, not buffered.
 */
export async function* lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<Line> {
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
      if (skipping || carryLen + piece.length > MAX_LINE_BYTES) yield { bytes: Buffer.alloc(0), line, tooLong: true };
      else yield { bytes: withoutCR(carryLen ? Buffer.concat([...carry, piece]) : piece), line };
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
    else yield { bytes: withoutCR(Buffer.concat(carry)), line };
  }
}

export const tooLongError = `line longer than ${MAX_LINE_BYTES} bytes`;
