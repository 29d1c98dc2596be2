import { describe, expect, it } from 'vitest';
import { SharedArena, Tensor } from '@attnflow/tensor';

describe('SharedArena', () => {
  it('is backed by a shared WebAssembly.Memory and reuses freed blocks', () => {
    const arena = new SharedArena({ initialBytes: 1 << 16 });
    expect(arena.buffer).toBeInstanceOf(SharedArrayBuffer);
    const a = arena.alloc(100);
    const b = arena.alloc(100);
    expect(a % 64).toBe(0);
    expect(b).toBeGreaterThan(a);
    arena.release(a);
    expect(arena.alloc(64)).toBe(a);
    expect(() => arena.release(12345)).toThrow(/not allocated/);
  });

  it('grows, keeping old data and handing out fresh views', () => {
    const arena = new SharedArena({ initialBytes: 1 << 16 });
    const t = Tensor.from([1, 2, 3], [3], arena);
    const big = Tensor.empty('float32', [1 << 20], arena);
    expect(arena.byteLength).toBeGreaterThanOrEqual(4 << 20);
    expect([...t.data]).toEqual([1, 2, 3]);
    big.data[big.size - 1] = 7;
    expect(big.data[big.size - 1]).toBe(7);
  });

  it('refuses sizes past its maximum with a clear error', () => {
    const arena = new SharedArena({ initialBytes: 1 << 16, maximumBytes: 1 << 20 });
    expect(() => arena.alloc(2 << 20)).toThrow(/out of tensor memory/);
    expect(() => arena.alloc(-1)).toThrow(/cannot allocate/);
  });
});

