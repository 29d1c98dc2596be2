import { Tensor, type SharedArena } from '@attnflow/tensor';

/** Keys and values of the positions seen so far, per batch row: key/value (batch, capacity, inner). */
export interface KVCache {
  key: Tensor<'float32'>;
  value: Tensor<'float32'>;
  capacity: number;
  /** Positions filled. */
  length: number;
  /**
   * Positions dropped from the front (a sliding-window layer keeps only what its window can still see): cached
   * position j is the sequence's position start + j, which is where the attention mask reads it.
   */
  start: number;
}

/** An empty key/value cache for `rows` sequences of up to `capacity` positions: key/value (rows, capacity, inner). */
export function createCache(rows: number, capacity: number, inner: number, arena?: SharedArena): KVCache {
  return {
    key: Tensor.empty('float32', [rows, capacity, inner], arena),
    value: Tensor.empty('float32', [rows, capacity, inner], arena),
    capacity,
    length: 0,
    start: 0,
  };
}

/**
 * Makes room for n more positions: a sliding-window layer first drops what no later query can see (all but the
 * last window − 1 positions), which happens once per (capacity − window) steps, not at every step; a cache
 * that is still too small (a long chat turn) grows.
 */
/** How many positions the cache holds after appending n (what reserveCache leaves, plus n). */
export function keysAfterAppend(cache: KVCache, n: number, window?: number): number {
  if (cache.length + n <= cache.capacity || !window) return cache.length + n;
  return Math.min(cache.length, window - 1) + n;
}

export function reserveCache(cache: KVCache, n: number, window?: number): void {
  if (cache.length + n <= cache.capacity) return;
  const [rows, , inner] = cache.key.shape;
  if (window) {
    const keep = Math.min(cache.length, window - 1);
    const drop = cache.length - keep;
    for (const t of [cache.key, cache.value]) {
      for (let r = 0; r < rows; r++) {
        const row = r * cache.capacity * inner;
        t.data.copyWithin(row, row + drop * inner, row + cache.length * inner);
      }
    }
    cache.start += drop;
    cache.length = keep;
    if (cache.length + n <= cache.capacity) return;
  }
  const capacity = cache.length + n + (window ?? 0);
  for (const name of ['key', 'value'] as const) {
    const old = cache[name];
    const grown = Tensor.empty('float32', [rows, capacity, inner], old.arena);
    for (let r = 0; r < rows; r++) grown.data.set(old.data.subarray(r * cache.capacity * inner, (r * cache.capacity + cache.length) * inner), r * capacity * inner);
    old.dispose();
    cache[name] = grown;
  }
  cache.capacity = capacity;
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
