import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readSafetensorsHeader, loadTensor } from '@attnflow/checkpoint';
import { expect } from 'vitest';
import { seededRandom } from '@attnflow/decoder';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const fixture = (...parts: string[]) => join(FIXTURES, ...parts);

export function readJson<T = any>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixture(...parts), 'utf8')) as T;
}

/** Every tensor of an expected.safetensors as plain arrays with shapes. */
export function readExpected(...parts: string[]): Map<string, { shape: number[]; data: Float32Array }> {
  const header = readSafetensorsHeader(fixture(...parts));
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of header.tensors) {
    const t = loadTensor(info);
    out.set(name, { shape: info.shape, data: t.toArray() as Float32Array });
    t.dispose();
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Parity as the fixtures define it: same length, max |diff| ≤ tol. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4, what = ''): void {
  const d = maxAbsDiff(actual, expected);
  if (!(d <= tol)) throw new Error(`${what}: max |diff| ${d} > ${tol}`);
}

/** A deterministic generator for random test data (the product's own mulberry32). */
export const rng = seededRandom;

export function randomArray(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}
