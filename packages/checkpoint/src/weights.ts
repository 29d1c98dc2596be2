import { Tensor, type HalfDType } from '@attnflow/tensor';
import { CheckpointError } from './safetensors.js';
import type { Checkpoint } from './checkpoint.js';

export class WeightsError extends CheckpointError {
  override name = 'WeightsError';
}

interface LoadState {
  checkpoint: Checkpoint;
  used: Set<string>;
  problems: string[];
  loaded: Tensor[];
}

/**
 * A scoped, strict view of a checkpoint's tensors, after candle's VarBuilder: `scope('encoder.layer.0')`
 * pushes a name prefix so that model code follows the checkpoint's key path. Every `get` checks the shape;
 * missing tensors and shape mismatches are collected and reported together by `finish()`, which also names
 * the tensors nobody asked for.
 */
export class Weights {
  private constructor(
    private readonly state: LoadState,
    readonly prefix: string,
  ) {}

  static from(checkpoint: Checkpoint): Weights {
    return new Weights({ checkpoint, used: new Set(), problems: [], loaded: [] }, '');
  }

  scope(...names: (string | number)[]): Weights {
    const add = names.filter((n) => n !== '').join('.');
    return new Weights(this.state, this.prefix && add ? `${this.prefix}.${add}` : this.prefix || add);
  }

  private key(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  has(name: string): boolean {
    return this.state.checkpoint.has(this.key(name));
  }

  /**
   * The tensor `name` (under this scope) with the given shape. `aliases` are other names the same weight has in
   * some checkpoints (e.g. the old `gamma` for a LayerNorm `weight`); the first present one is used.
   */
  get(name: string, shape: readonly number[], aliases: readonly string[] = []): Tensor<'float32'> {
    return this.read(name, shape, aliases, false) as Tensor<'float32'>;
  }

  /**
   * Like `get`, but a BF16 or F16 tensor stays in its stored precision (2 bytes an element): for the large
   * matrices the kernels read directly, so a half-precision checkpoint takes half the memory of float32.
   */
  getStored(name: string, shape: readonly number[]): Tensor<'float32' | HalfDType> {
    return this.read(name, shape, [], true) as Tensor<'float32' | HalfDType>;
  }

  private read(name: string, shape: readonly number[], aliases: readonly string[], keepHalf: boolean): Tensor {
    const names = [name, ...aliases];
    const found = names.map((n) => this.key(n)).find((k) => this.state.checkpoint.has(k));
    const key = this.key(name);
    if (!found) {
      this.state.problems.push(`missing tensor "${key}" ${fmt(shape)}${aliases.length ? ` (also looked for ${aliases.map((a) => `"${this.key(a)}"`).join(', ')})` : ''}`);
      return this.placeholder(shape);
    }
    const info = this.state.checkpoint.tensors.get(found)!;
    this.state.used.add(found);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      this.state.problems.push(`tensor "${found}" has shape ${fmt(info.shape)}, the config implies ${fmt(shape)}`);
      return this.placeholder(shape);
    }
    const t = this.state.checkpoint.load(found, { keepHalf });
    if (t.dtype === 'int32') {
      t.dispose();
      this.state.problems.push(`tensor "${found}" is ${info.dtype}, expected a float tensor`);
      return this.placeholder(shape);
    }
    this.state.loaded.push(t);
    return t;
  }

  /** Like `get`, but absent is fine (returns undefined); used for tied weights that some checkpoints store. */
  optional(name: string, shape: readonly number[]): Tensor<'float32'> | undefined {
    return this.has(name) ? this.get(name, shape) : undefined;
  }

  /** Marks tensors as known but unused (e.g. a pre-training head), so `finish()` does not report them. */
  ignore(pattern: RegExp): void {
    for (const name of this.state.checkpoint.tensors.keys()) if (pattern.test(name)) this.state.used.add(name);
  }

  private placeholder(shape: readonly number[]): Tensor<'float32'> {
    const t = Tensor.zeros('float32', shape, this.state.checkpoint.arena);
    this.state.loaded.push(t);
    return t;
  }

  /** Throws one error listing every missing, mismatched and unexpected tensor; returns the loaded tensors. */
  finish(): Tensor[] {
    const unexpected = [...this.state.checkpoint.tensors.keys()].filter((n) => !this.state.used.has(n));
    const problems = [...this.state.problems, ...unexpected.map((n) => `unexpected tensor "${n}" (not used by this architecture)`)];
    if (problems.length) {
      for (const t of this.state.loaded) t.dispose();
      throw new WeightsError(`${this.state.checkpoint.dir}: the checkpoint does not match the model:\n  ${problems.join('\n  ')}`);
    }
    return this.state.loaded;
  }
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;
