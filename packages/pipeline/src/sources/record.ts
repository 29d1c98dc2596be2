import type { ChatMessage } from '@attnflow/tokenizer';

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
  /** A whole conversation (source.messagesField); `text` is then its last message, for the output. */
  messages?: ChatMessage[];
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

/**
 * A record that is a whole conversation: a non-empty array of {role, content} strings, or the reason it is not
 * one, naming the message and key at fault.
 */
export function conversationRecord(file: string, line: number, value: unknown, field: string): Raw {
  const refuse = (error: string): Raw => ({ text: '', file, line, error });
  if (value === undefined) return refuse(`no field "${field}"`);
  if (!Array.isArray(value)) return refuse(`field "${field}" is ${typeof value}, expected an array of {role, content} messages`);
  if (!value.length) return refuse(`field "${field}" is an empty conversation`);
  const messages: ChatMessage[] = [];
  for (const [i, m] of value.entries()) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return refuse(`${field}[${i}] is not an object, expected {role, content}`);
    const { role, content } = m as Record<string, unknown>;
    const wrong = (key: string, v: unknown) => refuse(`${field}[${i}].${key} is ${v === undefined ? 'missing' : typeof v}, expected a string`);
    if (typeof role !== 'string') return wrong('role', role);
    if (typeof content !== 'string') return wrong('content', content);
    messages.push({ role, content });
  }
  return { text: messages[messages.length - 1].content, messages, file, line };
}
