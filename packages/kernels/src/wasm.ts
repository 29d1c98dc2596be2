import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

/** The exports of kernels.wasm (assembly/index.ts): pointers are byte offsets into the shared memory. */
export interface WasmKernels {
  linear(out: number, x: number, w: number, bias: number, gate: number, residual: number, K: number, os: number, xs: number, act: number, rowStart: number, rowEnd: number, colStart: number, colEnd: number, packed: number, weightType: number): void;
  quantizeRows(xq: number, params: number, x: number, K: number, xs: number, rowStart: number, rowEnd: number): void;
  linearQ8(
    out: number, xq: number, params: number, w: number, scales: number, offsets: number, bias: number, gate: number, residual: number,
    K: number, group: number, os: number, act: number, rowStart: number, rowEnd: number, colStart: number, colEnd: number,
  ): void;
  linearQ8Float(
    out: number, x: number, w: number, scales: number, bias: number, gate: number, residual: number,
    K: number, group: number, os: number, xs: number, act: number, rowStart: number, rowEnd: number, colStart: number, colEnd: number,
  ): void;
  linearQ4(
    out: number, x: number, w: number, scales: number, bias: number, gate: number, residual: number,
    K: number, os: number, xs: number, act: number, rowStart: number, rowEnd: number, colStart: number, colEnd: number,
  ): void;
  norm(out: number, x: number, residual: number, weight: number, bias: number, dim: number, eps: number, rms: number, rowStart: number, rowEnd: number, groups: number, rowStride: number): void;
  attention(
    out: number, q: number, k: number, v: number, keyMask: number, positionBias: number, probs: number, scratch: number,
    H: number, D: number, qLen: number, kLen: number, qRow: number, kvRow: number, outRow: number, qBatch: number, kvBatch: number, outBatch: number,
    hs: number, biasBatch: number, scale: number, causal: number, fill: number, unitStart: number, unitEnd: number,
    group: number, window: number, cap: number, maskStride: number, maskOffset: number,
  ): void;
  rope(x: number, cos: number, sin: number, heads: number, headDim: number, rotaryDim: number, rowStride: number, rowStart: number, rowEnd: number): void;
}

export type KernelsVariant = 'relaxed-simd' | 'simd';

let compiled: { module: WebAssembly.Module; variant: KernelsVariant } | null | undefined;

function load(name: string): BufferSource | undefined {
  try {
    return readFileSync(new URL(`./${name}`, import.meta.url)) as unknown as BufferSource;
  } catch {
    return undefined;
  }
}

let relaxedEnabled = false;

/**
 * Lets the engine use the relaxed-SIMD build (fused multiply-add, ~1.3x the portable build's GEMM speed). It sets
 * two process-wide V8 flags, so a library never does it on its own: the attnflow CLI calls it at start-up, and an
 * application may, before its first Engine. `--experimental-wasm-relaxed-simd` makes the build validate on Node
 * 20 (pool threads started later inherit it). `--no-liftoff` compiles with the optimising tier from the start:
 * V8's baseline tier may lower relaxed_madd to a multiply and an add where the optimising tier fuses them, so a
 * kernel would give different bits before and after tier-up — and a resumed job would not reproduce an
 * uninterrupted one. Without this call the portable SIMD build runs, which gives the same bits on every machine.
 */
export function enableRelaxedSimd(): void {
  if (compiled !== undefined && compiled?.variant !== 'relaxed-simd') compiled = undefined;
  v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  relaxedEnabled = true;
}

/**
 * The compiled SIMD kernels, or null where WebAssembly SIMD is unavailable (the TypeScript kernels run then):
 * the relaxed-SIMD build after enableRelaxedSimd() where it validates, else the portable build.
 * ATTNFLOW_WASM=simd keeps the portable build (the same bits on every x86/ARM machine; the fused build is
 * reproducible on one machine).
 */
export function kernelsModule(): { module: WebAssembly.Module; variant: KernelsVariant } | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (relaxedEnabled && process.env.ATTNFLOW_WASM !== 'simd') {
    const relaxed = load('kernels-relaxed.wasm');
    if (relaxed && WebAssembly.validate(relaxed)) compiled = { module: new WebAssembly.Module(relaxed), variant: 'relaxed-simd' };
  }
  if (!compiled) {
    const portable = load('kernels.wasm');
    if (portable && WebAssembly.validate(portable)) compiled = { module: new WebAssembly.Module(portable), variant: 'simd' };
  }
  return compiled;
}

/** Instantiates the kernels over a shared memory (cheap: no data segments, no start function). */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): WasmKernels {
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmKernels;
}
