/** One encoded text (or pair), as Hugging Face's Encoding. Offsets are UTF-16 ranges of the input string. */
export interface Encoding {
  ids: number[];
  tokens: string[];
  typeIds: number[];
  /** [start, end) into the text (for pairs: of the text the token came from; see sequenceIds). */
  offsets: [number, number][];
  specialTokensMask: number[];
  attentionMask: number[];
  /** 0 or 1 for tokens of the first or second text, null for special tokens. */
  sequenceIds: (number | null)[];
  /** The word (pre-tokenized piece) of its text each token came from; null for special tokens. */
  wordIds: (number | null)[];
}

export function emptyEncoding(): Encoding {
  return { ids: [], tokens: [], typeIds: [], offsets: [], specialTokensMask: [], attentionMask: [], sequenceIds: [], wordIds: [] };
}

/** UTF-16 offsets → Unicode code point offsets (what Python's tokenizers reports). */
export function toCodePointOffsets(text: string, offsets: readonly [number, number][]): [number, number][] {
  const cp = new Int32Array(text.length + 1);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    cp[i] = n;
    const c = text.charCodeAt(i);
    if (!(c >= 0xdc00 && c <= 0xdfff && i > 0 && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff)) n++;
  }
  cp[text.length] = n;
  return offsets.map(([a, b]) => [cp[a], cp[b]]);
}
