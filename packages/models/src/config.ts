import { CheckpointError, readConfig, type ConfigJson } from '@attnflow/checkpoint';
import { join } from 'node:path';

export class ConfigError extends CheckpointError {
  override name = 'ConfigError';
}

/** Fields that divide by or take a root of their value: zero or a negative number gives NaN activations. */
const POSITIVE = new Set(['layer_norm_eps', 'layer_norm_epsilon', 'rms_norm_eps']);

/** Typed access to config.json fields, with errors that name the file and field. */
export class ConfigReader {
  readonly file: string;
  constructor(readonly raw: ConfigJson, dir: string) {
    this.file = join(dir, 'config.json');
  }

  static read(dir: string): ConfigReader {
    return new ConfigReader(readConfig(dir), dir);
  }

  private fail(field: string, expected: string): never {
    throw new ConfigError(`${this.file}: field "${field}" ${this.raw[field] === undefined ? 'is missing' : `is ${JSON.stringify(this.raw[field])}`}; expected ${expected}`);
  }

  /** A positive integer (or non-negative with min 0); the first present of `names` (aliases across model types). */
  int(names: string | string[], fallback?: number, min = 1): number {
    for (const name of [names].flat()) {
      const v = this.raw[name];
      if (v === undefined || v === null) continue;
      if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > 1e9) this.fail(name, `an integer ≥ ${min}`);
      return v as number;
    }
    if (fallback === undefined) this.fail([names].flat()[0], `an integer ≥ ${min}`);
    return fallback;
  }

  num(names: string | string[], fallback?: number): number {
    for (const name of [names].flat()) {
      const v = this.raw[name];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(name, 'a number');
      if (POSITIVE.has(name) && v <= 0) this.fail(name, 'a number > 0');
      return v;
    }
    if (fallback === undefined) this.fail([names].flat()[0], 'a number');
    return fallback;
  }

  str(names: string | string[], fallback?: string): string {
    for (const name of [names].flat()) {
      const v = this.raw[name];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') this.fail(name, 'a string');
      return v;
    }
    if (fallback === undefined) this.fail([names].flat()[0], 'a string');
    return fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(name, 'true or false');
    return v;
  }

  optionalInt(name: string): number | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    return this.int(name, undefined, 0);
  }

  /** hidden % heads must be 0: the first invariant a config can break. */
  divisible(sizeField: string, size: number, headsField: string, heads: number): number {
    if (size % heads !== 0) throw new ConfigError(`${this.file}: ${sizeField} (${size}) is not divisible by ${headsField} (${heads})`);
    return size / heads;
  }

  labels(): Record<string, string> | undefined {
    return this.raw.id2label as Record<string, string> | undefined;
  }

  get architecture(): string | undefined {
    const a = this.raw.architectures;
    return Array.isArray(a) && typeof a[0] === 'string' ? a[0] : undefined;
  }
}
