/**
 * One shared `WebAssembly.Memory` holds every tensor of a process: weights, activations and caches.
 *
 * Why a WebAssembly.Memory and not a plain SharedArrayBuffer: its `buffer` *is* a SharedArrayBuffer, so
 * TypeScript kernels, Arrow vectors and WebAssembly SIMD kernels all address the same bytes, and the
 * Memory object itself can be posted to worker threads (a SharedArrayBuffer cannot be wrapped into a Memory
 * after the fact). Offsets are byte offsets into that memory, which is what a Wasm kernel takes as a pointer.
 *
 * Only the thread that created the arena allocates or grows it; workers receive offsets and lengths.
 */

import type { Tensor } from './tensor.js';

const PAGE = 65536;
/** 64-byte alignment: a cache line, and enough for any SIMD load. */
export const ALIGN = 64;
/** wasm32 addresses at most 4 GiB. */
export const MAX_ARENA_BYTES = 65536 * PAGE;

export interface ArenaOptions {
  /** Bytes reserved at start (rounded up to 64 KiB pages). Default 16 MiB. */
  initialBytes?: number;
  /** Upper bound the arena may grow to. Default and maximum 4 GiB. */
  maximumBytes?: number;
}

interface Block {
  offset: number;
  size: number;
}

export class ArenaError extends Error {
  override name = 'ArenaError';
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

export class SharedArena {
  readonly memory: WebAssembly.Memory;
  readonly maximumBytes: number;
  /** Free blocks sorted by offset, coalesced with their neighbours on free. */
  private free: Block[] = [];
  private used = new Map<number, number>();
  private top = ALIGN; // offset 0 stays unused so that 0 can mean "no tensor" to a kernel.
  private bytesInUse = 0;
  private collectors: Tensor[][] = [];

  constructor(options: ArenaOptions = {}) {
    const maximumBytes = Math.min(options.maximumBytes ?? MAX_ARENA_BYTES, MAX_ARENA_BYTES);
    const initialBytes = Math.min(options.initialBytes ?? 16 * 1024 * 1024, maximumBytes);
    this.maximumBytes = maximumBytes;
    this.memory = new WebAssembly.Memory({
      initial: Math.max(1, Math.ceil(initialBytes / PAGE)),
      maximum: Math.floor(maximumBytes / PAGE),
      shared: true,
    });
  }

  /** The current SharedArrayBuffer; a new, longer one after the arena grows. */
  get buffer(): SharedArrayBuffer {
    return this.memory.buffer as unknown as SharedArrayBuffer;
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  get allocatedBytes(): number {
    return this.bytesInUse;
  }

  /**
   * Runs `build` and returns, with its result, every tensor made meanwhile that is still alive: what loading a
   * model leaves in the arena (packed, fused, quantized weights as well as the checkpoint's), for the model to free
   * when it is disposed. If `build` throws, they are freed. `build` must be synchronous: a tensor made by
   * something else while it awaited would be collected too.
   */
  collect<T>(build: () => T): { value: T; tensors: Tensor[] } {
    const tensors: Tensor[] = [];
    this.collectors.push(tensors);
    try {
      const value = build();
      return { value, tensors: tensors.filter((t) => !t.isDisposed) };
    } catch (error) {
      for (const t of tensors) t.dispose();
      throw error;
    } finally {
      this.collectors.splice(this.collectors.indexOf(tensors), 1);
    }
  }

  /** Records a new tensor for every `collect` under way (Tensor.empty calls it). */
  made(t: Tensor): void {
    for (const c of this.collectors) c.push(t);
  }

  /** Returns the byte offset of `bytes` fresh bytes (contents undefined), aligned to 64. */
  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new ArenaError(`cannot allocate ${bytes} bytes`);
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i];
      if (block.size < size) continue;
      const offset = block.offset;
      if (block.size === size) this.free.splice(i, 1);
      else {
        block.offset += size;
        block.size -= size;
      }
      return this.take(offset, size);
    }
    const offset = this.top;
    const end = offset + size;
    if (end > this.maximumBytes) {
      throw new ArenaError(
        `out of tensor memory: ${size} more bytes would exceed the arena's maximum of ${this.maximumBytes} bytes ` +
          `(${this.bytesInUse} in use)`,
      );
    }
    if (end > this.byteLength) {
      // Grow by at least half again so that a loop of small allocations does not grow page by page.
      const want = Math.min(Math.max(end, Math.floor(this.byteLength * 1.5)), this.maximumBytes);
      this.memory.grow(Math.ceil((want - this.byteLength) / PAGE));
    }
    this.top = end;
    return this.take(offset, size);
  }

  private take(offset: number, size: number): number {
    this.used.set(offset, size);
    this.bytesInUse += size;
    return offset;
  }

  release(offset: number): void {
    const size = this.used.get(offset);
    if (size === undefined) throw new ArenaError(`release of offset ${offset}, which is not allocated`);
    this.used.delete(offset);
    this.bytesInUse -= size;
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid].offset < offset) lo = mid + 1;
      else hi = mid;
    }
    this.free.splice(lo, 0, { offset, size });
    const next = this.free[lo + 1];
    if (next && offset + size === next.offset) {
      this.free[lo].size += next.size;
      this.free.splice(lo + 1, 1);
    }
    const prev = this.free[lo - 1];
    if (prev && prev.offset + prev.size === offset) {
      prev.size += this.free[lo].size;
      this.free.splice(lo, 1);
    }
    // Give the tail back to the bump pointer so the free list stays short.
    const last = this.free[this.free.length - 1];
    if (last && last.offset + last.size === this.top) {
      this.top = last.offset;
      this.free.pop();
    }
  }

  f32(byteOffset: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, byteOffset, length);
  }

  i32(byteOffset: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, byteOffset, length);
  }

  u8(byteOffset: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, byteOffset, length);
  }
}

let defaultArena: SharedArena | undefined;

/** The process-wide arena that tensors use unless given another one. */
export function sharedArena(): SharedArena {
  defaultArena ??= new SharedArena();
  return defaultArena;
}
