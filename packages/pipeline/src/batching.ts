import { Observable, type OperatorFunction } from 'rxjs';
import type { TextRecord } from './tasks/index.js';

export interface BatchingOptions {
  /** Most records per batch (default 32). */
  batchSize?: number;
  /** Most padded tokens per batch (rows × longest), to bound memory on long texts (default 16384). */
  maxTokens?: number;
  /** Records read ahead and sorted by length inside the window, so batches hold similar lengths (default: batchSize). */
  bucketWindow?: number;
  /** A partial batch is released after this many ms without new records (streaming sources). Default 50. */
  maxWaitMs?: number;
}

/** Length estimate without tokenizing twice: ≈ 4 characters per token, plus special tokens. */
export const estimateTokens = (r: TextRecord) => Math.ceil((r.messages ? r.messages.reduce((n, m) => n + m.content.length + m.role.length, 0) : r.text.length + (r.pair?.length ?? 0)) / 4) + 2;

/** Splits records (in the order given) into batches bounded by count and by padded tokens. */
export function splitBatches(records: TextRecord[], batchSize: number, maxTokens: number): TextRecord[][] {
  const out: TextRecord[][] = [];
  let batch: TextRecord[] = [];
  let longest = 0;
  for (const r of records) {
    const next = Math.max(longest, estimateTokens(r));
    if (batch.length && (batch.length >= batchSize || next * (batch.length + 1) > maxTokens)) {
      out.push(batch);
      batch = [];
      longest = 0;
    }
    batch.push(r);
    longest = Math.max(longest, estimateTokens(r));
  }
  if (batch.length) out.push(batch);
  return out;
}

/**
 * Records → batches. A window of records is read ahead and sorted by length before it is cut into batches,
 * so each batch pads to a similar length; batches may therefore leave out of input order (`inOrder` restores
 * it). A partial window is released after maxWaitMs, so a slow streaming source still flows.
 */
export function batchRecords(options: BatchingOptions = {}): OperatorFunction<TextRecord, TextRecord[]> {
  const batchSize = options.batchSize ?? 32;
  const maxTokens = options.maxTokens ?? 16384;
  const window = Math.max(1, options.bucketWindow ?? batchSize);
  const maxWait = options.maxWaitMs ?? 50;
  return (source) =>
    new Observable<TextRecord[]>((subscriber) => {
      let pending: TextRecord[] = [];
      let timer: NodeJS.Timeout | undefined;
      const flush = () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        const sorted = pending.sort((a, b) => estimateTokens(a) - estimateTokens(b) || a.index - b.index);
        pending = [];
        for (const batch of splitBatches(sorted, batchSize, maxTokens)) subscriber.next(batch.sort((a, b) => a.index - b.index));
      };
      const sub = source.subscribe({
        next(r) {
          pending.push(r);
          if (pending.length >= window) flush();
          else if (!timer) timer = setTimeout(flush, maxWait);
        },
        error: (e) => subscriber.error(e),
        complete() {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        if (timer) clearTimeout(timer);
        sub.unsubscribe();
      };
    });
}

/** Re-emits items in order of `index`, starting at `first`, holding back those that arrive early. */
export function inOrder<T>(indexOf: (item: T) => number, first: number): OperatorFunction<T, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let next = first;
      const held = new Map<number, T>();
      return source.subscribe({
        next(item) {
          held.set(indexOf(item), item);
          while (held.has(next)) {
            const ready = held.get(next)!;
            held.delete(next);
            next++;
            subscriber.next(ready);
          }
        },
        error: (e) => subscriber.error(e),
        complete() {
          for (const k of [...held.keys()].sort((a, b) => a - b)) subscriber.next(held.get(k)!);
          subscriber.complete();
        },
      });
    });
}
