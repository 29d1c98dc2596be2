import { sharedArena, type SharedArena } from './arena.js';

/**
 * Element types. bfloat16 and float16 hold weights in the precision a checkpoint stores them (2 bytes each, raw
 * bits in a Uint16Array); the kernels widen them to float32 as they read them. int8 holds weights quantized at
 * load time and activations quantized for an integer GEMM (dtype q8).
 */
export type DType = 'float32' | 'int32' | 'bfloat16' | 'float16' | 'int8';
export type HalfDType = 'bfloat16' | 'float16';
export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : D extends 'int8' ? Int8Array : Uint16Array;

export const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4, int32: 4, bfloat16: 2, float16: 2, int8: 1 };

/** The dtypes as numbers, for worker task messages. */
export const DTYPES: readonly DType[] = ['float32', 'int32', 'bfloat16', 'float16', 'int8'];

/** A typed array of `dtype` over `length` elements of `buffer` at `byteOffset`. */
export function typedView<D extends DType>(dtype: D, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArrayFor<D> {
  const view = dtype === 'float32' ? new Float32Array(buffer, byteOffset, length)
    : dtype === 'int32' ? new Int32Array(buffer, byteOffset, length)
    : dtype === 'int8' ? new Int8Array(buffer, byteOffset, length) : new Uint16Array(buffer, byteOffset, length);
  return view as TypedArrayFor<D>;
}

export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`invalid dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  return n;
}

/** What a worker needs to find a tensor in the shared memory: the kernel task message carries these. */
export interface TensorRef {
  dtype: DType;
  byteOffset: number;
  length: number;
}

/**
 * A dtype and a row-major shape over bytes of the shared arena. It owns its bytes until `dispose()`.
 * `data` is a fresh view each time it is read, so it stays valid after the arena grows.
 */
export class Tensor<D extends DType = DType> {
  readonly size: number;
  private disposed = false;

  constructor(
    readonly arena: SharedArena,
    readonly dtype: D,
    readonly shape: readonly number[],
    readonly byteOffset: number,
  ) {
    this.size = sizeOf(shape);
  }

  static empty<D extends DType>(dtype: D, shape: readonly number[], arena: SharedArena = sharedArena()): Tensor<D> {
    const offset = arena.alloc(sizeOf(shape) * BYTES_PER_ELEMENT[dtype]);
    const t = new Tensor(arena, dtype, [...shape], offset);
    arena.made(t);
    return t;
  }

  static zeros<D extends DType>(dtype: D, shape: readonly number[], arena?: SharedArena): Tensor<D> {
    const t = Tensor.empty(dtype, shape, arena);
    t.data.fill(0);
    return t;
  }

  static from(values: ArrayLike<number>, shape: readonly number[] = [values.length], arena?: SharedArena): Tensor<'float32'> {
    const t = Tensor.empty('float32', shape, arena);
    if (t.size !== values.length) throw new ShapeError(`${values.length} values do not fill shape [${shape}]`);
    t.data.set(values);
    return t;
  }

  static fromInt32(values: ArrayLike<number>, shape: readonly number[] = [values.length], arena?: SharedArena): Tensor<'int32'> {
    const t = Tensor.empty('int32', shape, arena);
    if (t.size !== values.length) throw new ShapeError(`${values.length} values do not fill shape [${shape}]`);
    t.data.set(values);
    return t;
  }

  get data(): TypedArrayFor<D> {
    if (this.disposed) throw new Error('tensor used after dispose()');
    const { arena, byteOffset, size } = this;
    return typedView(this.dtype, arena.memory.buffer, byteOffset, size);
  }

  get ref(): TensorRef {
    return { dtype: this.dtype, byteOffset: this.byteOffset, length: this.size };
  }

  get byteLength(): number {
    return this.size * BYTES_PER_ELEMENT[this.dtype];
  }

  /** The same bytes under another shape of equal size; the view does not own them. */
  reshape(shape: readonly number[]): Tensor<D> {
    if (sizeOf(shape) !== this.size) throw new ShapeError(`cannot reshape [${this.shape}] to [${shape}]`);
    return new TensorView(this, shape, 0) as Tensor<D>;
  }

  /** Rows `start..end` of the first dimension, sharing bytes. */
  slice(start: number, end: number): Tensor<D> {
    const rows = this.shape[0];
    if (!(0 <= start && start <= end && end <= rows)) throw new ShapeError(`slice ${start}..${end} of [${this.shape}]`);
    const rowSize = this.size / Math.max(rows, 1);
    return new TensorView(this, [end - start, ...this.shape.slice(1)], start * rowSize) as Tensor<D>;
  }

  /** A copy as a plain (non-shared) array, for results that leave the arena. */
  toArray(): TypedArrayFor<D> {
    return this.data.slice() as TypedArrayFor<D>;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.arena.release(this.byteOffset);
  }
}

/** A reshape or slice: shares its owner's bytes and never frees them. */
class TensorView<D extends DType> extends Tensor<D> {
  constructor(
    private readonly owner: Tensor<D>,
    shape: readonly number[],
    elementOffset: number,
  ) {
    super(owner.arena, owner.dtype, [...shape], owner.byteOffset + elementOffset * BYTES_PER_ELEMENT[owner.dtype]);
  }
  override get data(): TypedArrayFor<D> {
    if (this.owner.isDisposed) throw new Error('tensor view used after its owner was disposed');
    return super.data;
  }
  override dispose(): void {}
}
