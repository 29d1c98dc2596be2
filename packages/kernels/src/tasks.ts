import { typedView, type TensorRef } from '@attnflow/tensor';
import { attention, MOST_NEGATIVE_F32, type AttentionArgs } from './attention.js';
import { linear, PANEL, type LinearArgs, type WeightArray } from './linear.js';
import { norm, type NormArgs } from './norm.js';
import { linearQ8, linearQ8Float, paddedK, quantizeRows, type LinearQ8Args, type LinearQ8FloatArgs, type QuantizeRowsArgs } from './q8.js';
import { linearQ4, type LinearQ4Args } from './q4.js';
import { rope, type RopeArgs } from './rope.js';
import type { WasmKernels } from './wasm.js';

/**
 * The kernel contract as data (after tfjs' kernel registry): a kernel is a name, named tensor inputs/outputs,
 * numeric attributes, and a count of independent work units that may be split across workers. A worker task
 * message is exactly this: `{ kernel, tensors, attrs, start, end }`, with tensors as offsets into the shared
 * memory, so nothing but a few numbers crosses threads.
 */
export type Attrs = Record<string, number | boolean | undefined>;
export type Views = Record<string, Float32Array | Int32Array | Uint16Array | Int8Array | undefined>;

export type Refs = Record<string, TensorRef | undefined>;

export interface KernelSpec<A> {
  /** The tensor names it reads and writes (scratch included): a task message names tensors by their index here. */
  tensors: readonly string[];
  /** Its attribute names, likewise. */
  attrs: readonly (keyof A & string)[];
  /** Independent units (rows, or batch×head pairs) the work splits into. */
  units(attrs: A): number;
  /** Floating-point operations per unit, to decide whether a split pays for its dispatch. */
  flopsPerUnit(attrs: A): number;
  /** The TypeScript kernel, over typed-array views. */
  run(views: Views, attrs: A, start: number, end: number): void;
  /** The WebAssembly SIMD kernel, over byte offsets in the same memory. */
  wasm?(k: WasmKernels, t: Refs, attrs: A, start: number, end: number): void;
  /** Floats of scratch memory the WebAssembly kernel needs (the engine lends it for the call). */
  scratch?(attrs: A): number;
}

/** A tensor's address for a WebAssembly kernel; 0 means "absent" (the arena never allocates offset 0). */
const ptr = (t: Refs, name: string) => t[name]?.byteOffset ?? 0;

const f32 = (v: Views, name: string) => v[name] as Float32Array;
const f32opt = (v: Views, name: string) => v[name] as Float32Array | undefined;
const i8 = (v: Views, name: string) => v[name] as Int8Array;
/** 4-bit weights are bytes of two nibbles: an int8 tensor read unsigned. */
const u8 = (v: Views, name: string) => new Uint8Array(i8(v, name).buffer, i8(v, name).byteOffset, i8(v, name).length);

/**
 * Work units of a GEMM: rows when there are many; with few rows (decoding, short texts) every worker reading all
 * of W would make it memory-bound, so the units become blocks of 16 output columns and each worker reads only
 * its share of W.
 */
const FEW_ROWS = 64;
const COLUMN_BLOCK = 2 * PANEL;
const linearRange = (a: Pick<LinearArgs, 'M' | 'N'>, start: number, end: number) =>
  a.M >= FEW_ROWS
    ? { rowStart: start, rowEnd: end, colStart: 0, colEnd: a.N }
    : { rowStart: 0, rowEnd: a.M, colStart: start * COLUMN_BLOCK, colEnd: Math.min(end * COLUMN_BLOCK, a.N) };

/** How a GEMM over K inputs splits into units (see linearRange) and what each costs. */
const linearUnits = (K: (a: Pick<LinearArgs, 'K'>) => number) => ({
  units: (a: Pick<LinearArgs, 'M' | 'N'>) => (a.M >= FEW_ROWS ? a.M : Math.ceil(a.N / COLUMN_BLOCK)),
  flopsPerUnit: (a: Pick<LinearArgs, 'M' | 'K' | 'N'>) => (a.M >= FEW_ROWS ? 2 * K(a) * a.N : 2 * K(a) * a.M * COLUMN_BLOCK),
});

const SCORE_OVERHEAD_FLOPS = 512;

export const KERNELS = {
  linear: {
    tensors: ['out', 'x', 'w', 'bias', 'gate', 'residual'],
    attrs: ['M', 'K', 'N', 'packed', 'xStride', 'outStride', 'activation', 'weightType'],
    ...linearUnits((a) => a.K),
    run: (v, a, start, end) =>
      linear(f32(v, 'out'), f32(v, 'x'), v.w as WeightArray, f32opt(v, 'bias'), f32opt(v, 'gate'), f32opt(v, 'residual'), { ...a, ...linearRange(a, start, end) }),
    wasm: (k, t, a, start, end) => {
      const r = linearRange(a, start, end);
      k.linear(ptr(t, 'out'), ptr(t, 'x'), ptr(t, 'w'), ptr(t, 'bias'), ptr(t, 'gate'), ptr(t, 'residual'), a.K, a.outStride ?? a.N, a.xStride ?? a.K, a.activation ?? 0, r.rowStart, r.rowEnd, r.colStart, r.colEnd, a.packed ? 1 : 0, a.weightType ?? 0);
    },
  } satisfies KernelSpec<LinearArgs>,
  quantizeRows: {
    tensors: ['xq', 'params', 'x'],
    attrs: ['rows', 'K', 'xStride'],
    units: (a) => a.rows,
    flopsPerUnit: (a) => 6 * a.K,
    run: (v, a, start, end) => quantizeRows(i8(v, 'xq'), f32(v, 'params'), f32(v, 'x'), { ...a, rowStart: start, rowEnd: end }),
    wasm: (k, t, a, start, end) => k.quantizeRows(ptr(t, 'xq'), ptr(t, 'params'), ptr(t, 'x'), a.K, a.xStride ?? a.K, start, end),
  } satisfies KernelSpec<QuantizeRowsArgs>,
  linearQ8: {
    tensors: ['out', 'xq', 'params', 'w', 'scales', 'offsets', 'bias', 'gate', 'residual'],
    attrs: ['M', 'K', 'N', 'group', 'outStride', 'activation'],
    ...linearUnits((a) => paddedK(a.K)),
    run: (v, a, start, end) =>
      linearQ8(f32(v, 'out'), i8(v, 'xq'), f32(v, 'params'), { values: i8(v, 'w'), scales: f32(v, 'scales'), offsets: f32(v, 'offsets') }, f32opt(v, 'bias'), f32opt(v, 'gate'), f32opt(v, 'residual'), { ...a, ...linearRange(a, start, end) }),
    wasm: (k, t, a, start, end) => {
      const r = linearRange(a, start, end);
      k.linearQ8(ptr(t, 'out'), ptr(t, 'xq'), ptr(t, 'params'), ptr(t, 'w'), ptr(t, 'scales'), ptr(t, 'offsets'), ptr(t, 'bias'), ptr(t, 'gate'), ptr(t, 'residual'), a.K, a.group, a.outStride ?? a.N, a.activation ?? 0, r.rowStart, r.rowEnd, r.colStart, r.colEnd);
    },
  } satisfies KernelSpec<LinearQ8Args>,
  linearQ8Float: {
    tensors: ['out', 'x', 'w', 'scales', 'bias', 'gate', 'residual'],
    attrs: ['M', 'K', 'N', 'group', 'xStride', 'outStride', 'activation'],
    ...linearUnits((a) => a.K),
    run: (v, a, start, end) =>
      linearQ8Float(f32(v, 'out'), f32(v, 'x'), { values: i8(v, 'w'), scales: f32(v, 'scales') }, f32opt(v, 'bias'), f32opt(v, 'gate'), f32opt(v, 'residual'), { ...a, ...linearRange(a, start, end) }),
    wasm: (k, t, a, start, end) => {
      const r = linearRange(a, start, end);
      k.linearQ8Float(ptr(t, 'out'), ptr(t, 'x'), ptr(t, 'w'), ptr(t, 'scales'), ptr(t, 'bias'), ptr(t, 'gate'), ptr(t, 'residual'), a.K, a.group, a.outStride ?? a.N, a.xStride ?? a.K, a.activation ?? 0, r.rowStart, r.rowEnd, r.colStart, r.colEnd);
    },
  } satisfies KernelSpec<LinearQ8FloatArgs>,
  linearQ4: {
    tensors: ['out', 'x', 'w', 'scales', 'bias', 'gate', 'residual'],
    attrs: ['M', 'K', 'N', 'xStride', 'outStride', 'activation'],
    ...linearUnits((a) => a.K),
    run: (v, a, start, end) =>
      linearQ4(f32(v, 'out'), f32(v, 'x'), { values: u8(v, 'w'), scales: f32(v, 'scales') }, f32opt(v, 'bias'), f32opt(v, 'gate'), f32opt(v, 'residual'), { ...a, ...linearRange(a, start, end) }),
    wasm: (k, t, a, start, end) => {
      const r = linearRange(a, start, end);
      k.linearQ4(ptr(t, 'out'), ptr(t, 'x'), ptr(t, 'w'), ptr(t, 'scales'), ptr(t, 'bias'), ptr(t, 'gate'), ptr(t, 'residual'), a.K, a.outStride ?? a.N, a.xStride ?? a.K, a.activation ?? 0, r.rowStart, r.rowEnd, r.colStart, r.colEnd);
    },
  } satisfies KernelSpec<LinearQ4Args>,
  norm: {
    tensors: ['out', 'x', 'residual', 'weight', 'bias'],
    attrs: ['rows', 'dim', 'eps', 'rms', 'groups', 'rowStride'],
    units: (a) => a.rows,
    flopsPerUnit: (a) => 8 * a.dim * (a.groups ?? 1),
    run: (v, a, start, end) =>
      norm(f32(v, 'out'), f32(v, 'x'), f32opt(v, 'residual'), f32(v, 'weight'), f32opt(v, 'bias'), { ...a, rowStart: start, rowEnd: end }),
    wasm: (k, t, a, start, end) =>
      k.norm(ptr(t, 'out'), ptr(t, 'x'), ptr(t, 'residual'), ptr(t, 'weight'), ptr(t, 'bias'), a.dim, a.eps, a.rms ? 1 : 0, start, end, a.groups ?? 1, a.rowStride ?? (a.groups ?? 1) * a.dim),
  } satisfies KernelSpec<NormArgs>,
  attention: {
    tensors: ['out', 'q', 'k', 'v', 'keyMask', 'positionBias', 'probs', 'scratch'],
    attrs: [
      'batch', 'numHeads', 'headDim', 'qLen', 'kLen', 'qRowStride', 'kvRowStride', 'outRowStride', 'qBatchStride', 'kvBatchStride', 'outBatchStride',
      'headStride', 'biasBatchStride', 'scale', 'causal', 'maskFill', 'kvHeads', 'window', 'softCap', 'maskStride', 'maskOffset',
    ],
    units: (a) => a.batch * a.numHeads,
    // q·k and p·v, plus what each score costs besides (scale, mask, exponential, normalisation, its share of the
    // Kᵀ copy): about 500 GEMM FLOPs' worth of time (npm run bench), so the split is decided on time, not arithmetic
    flopsPerUnit: (a) => a.qLen * a.kLen * (4 * a.headDim + SCORE_OVERHEAD_FLOPS),
    run: (v, a, start, end) =>
      attention(
        {
          out: f32(v, 'out'), q: f32(v, 'q'), k: f32(v, 'k'), v: f32(v, 'v'),
          keyMask: v.keyMask as Int32Array | undefined, positionBias: f32opt(v, 'positionBias'), probs: f32opt(v, 'probs'),
        },
        { ...a, unitStart: start, unitEnd: end },
      ),
    wasm: (k, t, a, start, end) =>
      k.attention(
        ptr(t, 'out'), ptr(t, 'q'), ptr(t, 'k'), ptr(t, 'v'), ptr(t, 'keyMask'), ptr(t, 'positionBias'), ptr(t, 'probs'), ptr(t, 'scratch'),
        a.numHeads, a.headDim, a.qLen, a.kLen, a.qRowStride, a.kvRowStride, a.outRowStride, a.qBatchStride, a.kvBatchStride, a.outBatchStride,
        a.headStride ?? a.headDim, a.biasBatchStride ?? 0, a.scale, a.causal ? 1 : 0, a.maskFill ?? MOST_NEGATIVE_F32, start, end,
        a.numHeads / (a.kvHeads ?? a.numHeads), a.window ?? 0, a.softCap ?? 0, a.maskStride ?? a.kLen, a.maskOffset ?? 0,
      ),
    // per (batch, head): Kᵀ (headDim × keys padded to 16) and two rows of scores; see assembly/index.ts
    scratch: (a) => a.batch * a.numHeads * (a.headDim + 2) * Math.ceil(a.kLen / 16) * 16,
  } satisfies KernelSpec<AttentionArgs>,
  rope: {
    tensors: ['x', 'cos', 'sin'],
    attrs: ['rows', 'heads', 'headDim', 'rotaryDim', 'rowStride'],
    units: (a) => a.rows,
    flopsPerUnit: (a) => 3 * a.heads * a.rotaryDim,
    run: (v, a, start, end) => rope(f32(v, 'x'), f32(v, 'cos'), f32(v, 'sin'), { ...a, rowStart: start, rowEnd: end }),
    wasm: (k, t, a, start, end) => k.rope(ptr(t, 'x'), ptr(t, 'cos'), ptr(t, 'sin'), a.heads, a.headDim, a.rotaryDim, a.rowStride, start, end),
  } satisfies KernelSpec<RopeArgs>,
};

export type KernelName = keyof typeof KERNELS;
export type KernelAttrs<K extends KernelName> = Parameters<(typeof KERNELS)[K]['units']>[0];

/** Kernels by name: the built-in ones, plus any an engine was given (tests add fault injection this way). */
export type KernelRegistry = Record<string, KernelSpec<Attrs>>;

/**
 * The built-in kernels as a registry. A task message carries attributes as a plain record of numbers, so the
 * registry forgets each kernel's own attribute type; Engine.run checks them against KernelAttrs<K> at the call.
 */
export const BUILTIN_KERNELS = KERNELS as unknown as KernelRegistry;

export interface KernelTask {
  kernel: string;
  tensors: Record<string, TensorRef | undefined>;
  attrs: Attrs;
  start: number;
  end: number;
  /** The range is cut into this many pieces, claimed by the threads of a team (channel.ts). */
  pieces?: number;
}

/**
 * Runs a task against a memory's current buffer (re-read each time: the arena may have grown since), on the
 * WebAssembly kernels when given and the kernel has one.
 */
export function runTask(registry: KernelRegistry, buffer: ArrayBufferLike, task: KernelTask, wasm?: WasmKernels): void {
  const spec = registry[task.kernel];
  if (!spec) throw new Error(`unknown kernel "${task.kernel}"`);
  if (wasm && spec.wasm) {
    spec.wasm(wasm, task.tensors, task.attrs, task.start, task.end);
    return;
  }
  const views: Views = {};
  for (const [name, ref] of Object.entries(task.tensors)) {
    if (!ref) continue;
    views[name] = typedView(ref.dtype, buffer, ref.byteOffset, ref.length);
  }
  spec.run(views, task.attrs, task.start, task.end);
}
