import { enableRelaxedSimd } from '@attnflow/kernels';
import asc from 'assemblyscript/asc';

/**
 * The machine's WebAssembly SIMD peak on one core: twelve independent chains of 4-lane fused multiply-adds in
 * registers, no memory traffic, so nothing but the core's FMA throughput limits it. Compiled here with the same
 * AssemblyScript compiler and V8 flags as the kernels. Native code with AVX2 (onnxruntime-node) has twice the
 * vector width, so twice this.
 */
const SOURCE = `
export function fmaChains(n: i32): f32 {
  const m = f32x4.splat(0.9999999), c = f32x4.splat(1e-7);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(2), a2 = f32x4.splat(3), a3 = f32x4.splat(4);
  let a4 = f32x4.splat(5), a5 = f32x4.splat(6), a6 = f32x4.splat(7), a7 = f32x4.splat(8);
  let a8 = f32x4.splat(9), a9 = f32x4.splat(10), a10 = f32x4.splat(11), a11 = f32x4.splat(12);
  for (let i = 0; i < n; i++) {
    a0 = f32x4.relaxed_madd(a0, m, c); a1 = f32x4.relaxed_madd(a1, m, c); a2 = f32x4.relaxed_madd(a2, m, c);
    a3 = f32x4.relaxed_madd(a3, m, c); a4 = f32x4.relaxed_madd(a4, m, c); a5 = f32x4.relaxed_madd(a5, m, c);
    a6 = f32x4.relaxed_madd(a6, m, c); a7 = f32x4.relaxed_madd(a7, m, c); a8 = f32x4.relaxed_madd(a8, m, c);
    a9 = f32x4.relaxed_madd(a9, m, c); a10 = f32x4.relaxed_madd(a10, m, c); a11 = f32x4.relaxed_madd(a11, m, c);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}`;

const FLOPS_PER_ITERATION = 12 * 4 * 2;

let measured: Promise<number | undefined> | undefined;

/** GFLOP/s of one core, best of several timed runs (measured once a process); undefined without relaxed SIMD. */
export function simdPeak(): Promise<number | undefined> {
  measured ??= measure();
  return measured;
}

async function measure(): Promise<number | undefined> {
  // the kernels' flags, set before anything compiles WebAssembly
  enableRelaxedSimd();
  const compiled = await asc.compileString(SOURCE, { optimizeLevel: 3, runtime: 'stub', enable: ['simd', 'relaxed-simd'], noAssert: true });
  if (!compiled.binary) return undefined;
  const binary = new Uint8Array(compiled.binary); // an ArrayBuffer-backed copy, as WebAssembly.Module wants
  if (!WebAssembly.validate(binary)) return undefined;
  const { fmaChains } = new WebAssembly.Instance(new WebAssembly.Module(binary)).exports as { fmaChains(n: number): number };
  const n = 2_000_000;
  let best = Infinity;
  for (let run = 0; run < 15; run++) {
    const t = performance.now();
    fmaChains(n);
    best = Math.min(best, performance.now() - t);
  }
  return (n * FLOPS_PER_ITERATION) / best / 1e6;
}
