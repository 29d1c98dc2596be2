import { Tensor, type HalfDType } from '@attnflow/tensor';
import { CheckpointError } from './safetensors.js';
import type { Checkpoint } from './checkpoint.js';

export class WeightsError extends CheckpointError {
  override name = 'WeightsError';
}

/**
 * Problems listed before loading stops: a config that asks for far more layers than the checkpoint holds (say
 * `num_hidden_layers: 1e9`) would otherwise collect a message and a placeholder per missing tensor without end.
 */
export const MAX_PROBLEMS = 20;
/** Elements checked per tensor for NaN and infinity: a sample, so the check costs little on large checkpoints. */
const FINITE_SAMPLES = 4096;

/**
 * Matrices of linear layers quantized as they load: to 8 bits (dtype q8), `group` consecutive inputs sharing a
 * scale (the whole row when absent), calls of at most `floatRows` rows multiplying float activations with the
 * weights widened (none when absent); or to 4 bits (q4, in groups of 32).
 */
export type Quantization = { format: 'q8'; group?: number; floatRows?: number } | { format: 'q4' };

/** How a model's weights are kept once loaded. */
export interface WeightsOptions {
  quantize?: Quantization;
}

interface LoadState {
  options: WeightsOptions;
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

  static from(checkpoint: Checkpoint, options: WeightsOptions = {}): Weights {
    return new Weights({ options, checkpoint, used: new Set(), problems: [], loaded: [] }, '');
  }

  /** The load option that layer loaders honour (see WeightsOptions). */
  get quantize(): WeightsOptions['quantize'] {
    return this.state.options.quantize;
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
      this.problem(`missing tensor "${key}" ${fmt(shape)}${aliases.length ? ` (also looked for ${aliases.map((a) => `"${this.key(a)}"`).join(', ')})` : ''}`);
      return this.placeholder(shape);
    }
    const info = this.state.checkpoint.tensors.get(found)!;
    this.state.used.add(found);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      this.problem(`tensor "${found}" has shape ${fmt(info.shape)}, the config implies ${fmt(shape)}`);
      return this.placeholder(shape);
    }
    const t = this.state.checkpoint.load(found, { keepHalf });
    if (t.dtype === 'int32') {
      t.dispose();
      this.problem(`tensor "${found}" is ${info.dtype}, expected a float tensor`);
      return this.placeholder(shape);
    }
    this.state.loaded.push(t);
    if (t.dtype === 'float32') {
      const values = t.data as Float32Array;
      const bad = nonFinite(values);
      if (bad >= 0) this.problem(`tensor "${found}" has a non-finite value (${values[bad]}) at element ${bad}: a broken conversion?`);
    }
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

  private problem(message: string): void {
    this.state.problems.push(message);
    if (this.state.problems.length >= MAX_PROBLEMS) this.fail(`(stopped after ${MAX_PROBLEMS} problems; the config may ask for more or larger layers than the checkpoint holds)`);
  }

  /**
   * Zeros standing in for a missing or mismatched tensor, so loading goes on and reports every problem together.
   * Its size comes from the config, so it is bounded by the largest tensor present: a config size beyond every
   * weight stops loading here instead of allocating it.
   */
  private placeholder(shape: readonly number[]): Tensor<'float32'> {
    const numel = shape.reduce((a, b) => a * b, 1);
    const largest = Math.max(0, ...[...this.state.checkpoint.tensors.values()].map((t) => t.shape.reduce((a, b) => a * b, 1)));
    if (numel > largest) this.fail(`(stopped: the config implies a tensor of shape ${fmt(shape)}, larger than any in the checkpoint; check its sizes)`);
    const t = Tensor.zeros('float32', shape, this.state.checkpoint.arena);
    this.state.loaded.push(t);
    return t;
  }

  /** Throws one error listing every missing, mismatched and unexpected tensor; returns the loaded tensors. */
  finish(): Tensor[] {
    const unexpected = [...this.state.checkpoint.tensors.keys()].filter((n) => !this.state.used.has(n));
    const problems = [...this.state.problems, ...unexpected.map((n) => `unexpected tensor "${n}" (not used by this architecture)`)];
    if (problems.length > MAX_PROBLEMS) this.fail(`(and ${problems.length - MAX_PROBLEMS} more)`, problems.slice(0, MAX_PROBLEMS));
    if (problems.length) this.fail('', problems);
    return this.state.loaded;
  }

  private fail(tail: string, problems: string[] = this.state.problems): never {
    for (const t of this.state.loaded) t.dispose();
    this.state.loaded.length = 0;
    throw new WeightsError(`${this.state.checkpoint.dir}: the checkpoint does not match the model:\n  ${[...problems, ...(tail ? [tail] : [])].join('\n  ')}`);
  }
}

/** Index of a NaN or infinity among evenly spaced samples (and the last element), or -1. */
function nonFinite(values: Float32Array): number {
  const step = Math.max(1, Math.floor(values.length / FINITE_SAMPLES));
  for (let i = 0; i < values.length; i += step) if (!Number.isFinite(values[i])) return i;
  return values.length && !Number.isFinite(values[values.length - 1]) ? values.length - 1 : -1;
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;
