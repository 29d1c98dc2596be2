import { isMainThread } from 'node:worker_threads';
import type { TensorRef } from '@attnflow/tensor';
import { attention, type AttentionArgs } from './attention.js';
import { linear, linearReference, type LinearArgs } from './linear.js';
import { norm, type NormArgs } from './norm.js';

/**
 * The kernel contract as data (after tfjs' kernel registry): a kernel is a name, named tensor inputs/outputs,
 * numeric attributes, and a count of independent work units that may be split across workers. A worker task
 * message is exactly this: `{ kernel, tensors, attrs, start, end }`, with tensors as offsets into the shared
 * memory, so nothing but a few numbers crosses threads.
 */
export type Attrs = Record<string, number | boolean | undefined>;
export type Views = Record<string, Float32Array | Int32Array | undefined>;

export interface KernelSpec<A> {
  /** Independent units (rows, or batch×head pairs) the work splits into. */
  units(attrs: A): number;
  /** Floating-point operations per unit, to decide whether a split pays for its dispatch. */
  flopsPerUnit(attrs: A): number;
  run(views: Views, attrs: A, start: number, end: number): void;
}

const f32 = (v: Views, name: string) => v[name] as Float32Array;
const f32opt = (v: Views, name: string) => v[name] as Float32Array | undefined;

const linearSpec = (impl: typeof linear): KernelSpec<LinearArgs> => ({
  units: (a) => a.M,
  flopsPerUnit: (a) => 2 * a.K * a.N,
  run: (v, a, start, end) =>
    impl(f32(v, 'out'), f32(v, 'x'), f32(v, 'w'), f32opt(v, 'bias'), f32opt(v, 'gate'), f32opt(v, 'residual'), { ...a, rowStart: start, rowEnd: end }),
});

export const KERNELS = {
  linear: linearSpec(linear),
  linearReference: linearSpec(linearReference),
  norm: {
    units: (a) => a.rows,
    flopsPerUnit: (a) => 8 * a.dim,
    run: (v, a, start, end) =>
      norm(f32(v, 'out'), f32(v, 'x'), f32opt(v, 'residual'), f32(v, 'weight'), f32opt(v, 'bias'), { ...a, rowStart: start, rowEnd: end }),
  } satisfies KernelSpec<NormArgs>,
  attention: {
    units: (a) => a.batch * a.numHeads,
    flopsPerUnit: (a) => 4 * a.qLen * a.kLen * a.headDim,
    run: (v, a, start, end) =>
      attention(
        {
          out: f32(v, 'out'), q: f32(v, 'q'), k: f32(v, 'k'), v: f32(v, 'v'),
          keyMask: v.keyMask as Int32Array | undefined, positionBias: f32opt(v, 'positionBias'), probs: f32opt(v, 'probs'),
        },
        { ...a, unitStart: start, unitEnd: end },
      ),
  } satisfies KernelSpec<AttentionArgs>,
  /**
   * Fault injection for the reliability tests: the thread that runs it exits if the int32 `flag` is 1, after
   * clearing it, so the retried task succeeds. Exiting is only done off the main thread.
   */
  exitOnce: {
    units: (_: Record<string, never>) => 1,
    flopsPerUnit: () => Infinity,
    run: (v) => {
      const flag = v.flag as Int32Array;
      if (Atomics.compareExchange(flag, 0, 1, 0) === 1 && !isMainThread) process.exit(3);
    },
  } satisfies KernelSpec<Record<string, never>>,
};

export type KernelName = keyof typeof KERNELS;
export type KernelAttrs<K extends KernelName> = Parameters<(typeof KERNELS)[K]['units']>[0];

export interface KernelTask {
  kernel: KernelName;
  tensors: Record<string, TensorRef | undefined>;
  attrs: Attrs;
  start: number;
  end: number;
}

/** Runs a task against a memory's current buffer (re-read each time: the arena may have grown since). */
export function runTask(buffer: ArrayBufferLike, task: KernelTask): void {
  const views: Views = {};
  for (const [name, ref] of Object.entries(task.tensors)) {
    if (!ref) continue;
    views[name] = ref.dtype === 'float32' ? new Float32Array(buffer, ref.byteOffset, ref.length) : new Int32Array(buffer, ref.byteOffset, ref.length);
  }
  const spec = KERNELS[task.kernel] as unknown as KernelSpec<Attrs>;
  if (!spec) throw new Error(`unknown kernel "${task.kernel}"`);
  spec.run(views, task.attrs, task.start, task.end);
}
