import { Tensor, type SharedArena } from '@attnflow/tensor';

/** Keys and values of the positions seen so far, per batch row: key/value (batch, capacity, inner). */
export interface KVCache {
  key: Tensor<'float32'>;
  value: Tensor<'float32'>;
  capacity: number;
  /** Positions filled. */
  length: number;
}

/** An empty key/value cache for `rows` sequences of up to `capacity` positions: key/value (rows, capacity, inner). */
export function createCache(rows: number, capacity: number, inner: number, arena?: SharedArena): KVCache {
  return {
    key: Tensor.empty('float32', [rows, capacity, inner], arena),
    value: Tensor.empty('float32', [rows, capacity, inner], arena),
    capacity,
    length: 0,
  };
}

/**
 * Makes row i hold what row order[i] held (beam search keeps the best continuations, which may share a parent).
 * Copies only the filled positions.
 */
export function reorderRows(t: Tensor<'float32'>, order: readonly number[], rowSize: number, filled = rowSize): void {
  const data = t.data;
  const copy = new Float32Array(order.length * filled);
  order.forEach((src, i) => copy.set(data.subarray(src * rowSize, src * rowSize + filled), i * filled));
  order.forEach((_, i) => data.set(copy.subarray(i * filled, (i + 1) * filled), i * rowSize));
}

export function reorderCache(cache: KVCache, order: readonly number[]): void {
  const inner = cache.key.shape[2];
  reorderRows(cache.key, order, cache.capacity * inner, cache.length * inner);
  reorderRows(cache.value, order, cache.capacity * inner, cache.length * inner);
}

export function disposeCache(cache: KVCache): void {
  cache.key.dispose();
  cache.value.dispose();
}
