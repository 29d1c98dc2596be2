import { Tensor, type DType } from './tensor.js';
import type { SharedArena } from './arena.js';

/**
 * Owns the temporary tensors of one forward pass and frees them together, so activations go back to the
 * arena as soon as a batch is done (or fails) without a dispose() call per tensor.
 */
export class Scope {
  private readonly owned: Tensor[] = [];
  constructor(readonly arena?: SharedArena) {}

  empty<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
    const t = Tensor.empty(dtype, shape, this.arena);
    this.owned.push(t);
    return t;
  }

  f32(shape: readonly number[]): Tensor<'float32'> {
    return this.empty('float32', shape);
  }

  i32(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor<'int32'> {
    const t = this.empty('int32', shape);
    t.data.set(values);
    return t;
  }

  /** Hands a tensor over to the caller: it will not be freed with the scope. */
  keep<T extends Tensor>(t: T): T {
    const i = this.owned.indexOf(t);
    if (i >= 0) this.owned.splice(i, 1);
    return t;
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
}
