/**
 * Where records come from. Every source yields raw records in a fixed order with a global index, so a job
 * can be resumed (skip the first N) and sharded (index mod n) deterministically. A record that cannot be
 * read (invalid UTF-8, bad JSON or CSV, empty or missing text) is yielded with an `error` and goes to the
 * dead-letter file; it still takes its place in the order.
 */
export interface SourceRecord {
  index: number;
  text: string;
  pair?: string;
  file: string;
  line: number;
  error?: string;
}

/** A record before the global index is assigned (one file's view). */
export type Raw = Omit<SourceRecord, 'index'>;

/** Lines longer than this are refused (dead-lettered) instead of buffered without bound. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export class SourceError extends Error {
  override name = 'SourceError';
}

/** A record from a text field (and its pair), or the reason it is not one. */
export function textRecord(file: string, line: number, text: unknown, pair: unknown, field: string, pairField?: string): Raw {
  if (typeof text !== 'string') return { text: '', file, line, error: text === undefined ? `no field "${field}"` : `field "${field}" is ${typeof text}, expected a string` };
  if (pairField !== undefined && typeof pair !== 'string') return { text, file, line, error: `no string field "${pairField}"` };
  if (!text.trim()) return { text, file, line, error: 'empty text' };
  return { text, pair: pair as string | undefined, file, line };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8: undefined for invalid bytes (such a record is dead-lettered, never given U+FFFD). */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
