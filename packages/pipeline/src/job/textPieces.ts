/** Characters per piece: a 40 MB text is handled a MiB at a time, never copied whole into another string or buffer. */
const PIECE = 1 << 20;

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** Whether a text is long enough to be handled in pieces. */
export const isLong = (text: string | undefined) => (text?.length ?? 0) > PIECE;

/** A text in consecutive pieces of at most a MiB of characters, never splitting a surrogate pair. */
export function* textPieces(text: string): Generator<string> {
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + PIECE);
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--;
    yield text.slice(at, end);
    at = end;
  }
}
