/** Character classes exactly as Hugging Face tokenizers (Rust) defines them. */

/** Rust's char::is_whitespace: the Unicode White_Space property. */
const WHITE_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
export const isWhitespace = (ch: string) => {
  const c = ch.charCodeAt(0);
  return c < 128 ? c === 32 || (c >= 9 && c <= 13) : WHITE_SPACE.test(ch);
};

/** BERT's "control": categories C* except tab, newline and carriage return (counted as whitespace). */
export const isBertControl = (ch: string) => ch !== '\t' && ch !== '\n' && ch !== '\r' && /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]$/u.test(ch);

/** BERT's punctuation: all ASCII non-alphanumerics plus Unicode category P. */
export function isBertPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (cp < 128) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return /^\p{P}$/u.test(ch);
}

/** The first half of a surrogate pair: the code point takes two UTF-16 units. */
export const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** GPT-2's byte ↔ printable-character table: bytes that are printable map to themselves, the rest above 255. */
export const BYTE_TO_CHAR: string[] = (() => {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const table = new Array<string>(256);
  for (const b of bytes) table[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!table[b]) table[b] = String.fromCodePoint(256 + n++);
  return table;
})();

export const CHAR_TO_BYTE = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));
