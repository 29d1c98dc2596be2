import type { ModelToken } from './models/model.js';

/** A token of one stretch of text, with the pre-token (word) of that stretch it came from, counted from 0. */
export interface PieceToken extends ModelToken {
  word: number;
}

/** What normalizer → pre-tokenizer → model make of one stretch of text. */
export interface Pieces {
  tokens: PieceToken[];
  /** How many pre-tokens (words) the stretch held, tokens or not. */
  words: number;
  /** Index in `tokens` of the last word's first token (the last word may go on if more text follows). */
  lastWordStart: number;
}

/**
 * Chunks longer than this, or of more tokens, are tokenized but not kept: a full cache then holds at most about
 * 20 MB (10,000 × (512 bytes of chunk + 16 tokens)), whatever the text; ordinary words are far below both.
 */
const MAX_CACHED_CHUNK = 256;
const MAX_CACHED_TOKENS = 16;
/** As Hugging Face's word cache: enough for the common words of a language. */
const CAPACITY = 10_000;

const isSeparator = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * A copy of `s` in memory of its own. V8 makes a slice of a long string a view that keeps the whole string alive,
 * so a cached chunk (or a token cut from it) would pin the text it came from: 40 documents of 2 MB stayed in
 * memory after 10,000 words of them were cached.
 */
const detached = (s: string) => s.split('').join('');

/**
 * Cuts text[from, to) at ASCII spaces, tabs and line breaks and tokenizes each chunk once: a chunk seen before
 * (most words of a text are) is a map lookup instead of normalizing, pre-tokenizing and matching it again. Only
 * valid when the normalizer and pre-tokenizer treat those separators as word boundaries they drop
 * (Normalizer.whitespaceLocal, PreTokenizer.splitsOnWhitespace): then the chunks' tokens, shifted to where each
 * chunk starts, are the text's tokens.
 */
export class ChunkCache {
  private readonly cache = new Map<string, Pieces>();

  constructor(private readonly tokenize: (chunk: string) => Pieces) {}

  /** Calls `emit` with each chunk's pieces (offsets relative to the chunk) and where the chunk starts. */
  forEach(text: string, from: number, to: number, emit: (pieces: Pieces, at: number) => void): void {
    for (let i = from; i < to; ) {
      while (i < to && isSeparator(text.charCodeAt(i))) i++;
      const start = i;
      while (i < to && !isSeparator(text.charCodeAt(i))) i++;
      if (i > start) emit(this.get(text.slice(start, i)), start);
    }
  }

  private get(chunk: string): Pieces {
    let pieces = this.cache.get(chunk);
    if (pieces) return pieces;
    pieces = this.tokenize(chunk);
    // Once full it keeps what it has, as Hugging Face's word cache does: the words met first are mostly the
    // frequent ones, and emptying it instead lost them every few thousand lines (a third slower on Zipf-like text).
    if (chunk.length <= MAX_CACHED_CHUNK && pieces.tokens.length <= MAX_CACHED_TOKENS && this.cache.size < CAPACITY) {
      const tokens = pieces.tokens.map((t) => ({ ...t, value: detached(t.value) }));
      this.cache.set(detached(chunk), { ...pieces, tokens });
    }
    return pieces;
  }
}
