import { Activation, Engine, packPanels } from '@attnflow/kernels';
import { Tensor } from '@attnflow/tensor';
import { table, timeIt } from './common.js';
import { simdPeak } from './peak.js';

/**
 * GEMM GFLOP/s (TypeScript and WebAssembly kernels; weights packed in panels, as loaded layers have them, or plain
 * rows, as a tied LM head reads them; inline, 1 and 2 workers) and the cost of one hand-over to a pool thread.
 */
export async function kernelsBench(): Promise<string> {
  const peak = await simdPeak();
  const rows: (string | number)[][] = [['GEMM M×K×N', 'backend', 'weights', 'workers', 'ms', 'GFLOP/s', 'of peak', 'speed-up']];
  for (const [M, K, N] of [[4096, 384, 1536], [4096, 1536, 384], [16, 384, 1536]]) {
    const x = Tensor.from(new Float32Array(M * K).map((_, i) => Math.sin(i)), [M, K]);
    const plain = new Float32Array(N * K).map((_, i) => Math.cos(i));
    const weights = { rows: Tensor.from(plain, [N, K]), panels: Tensor.from(packPanels(plain, N, K)) };
    const out = Tensor.empty('float32', [M, N]);
    const base: Record<string, number> = {};
    for (const backend of ['js', 'wasm'] as const) {
      for (const layout of ['panels', 'rows'] as const) {
        if (backend === 'js' && layout === 'rows') continue;
        for (const workers of [0, 1, 2]) {
          if (backend === 'js' && M * K * N > 1e9 && workers === 0) continue;
          const e = new Engine({ workers, backend, minPoolFlops: 0 });
          const ms = await timeIt(() => e.run('linear', { out, x, w: weights[layout] }, { M, K, N, activation: Activation.gelu, packed: layout === 'panels' }), { warmup: 3, runs: 3, minMs: 300 });
          await e.close();
          base[backend] ??= ms;
          const gflops = (2 * M * K * N) / ms / 1e6;
          const ofPeak = peak ? `${((100 * gflops) / (peak * Math.max(1, workers))).toFixed(0)}%` : '-';
          rows.push([`${M}×${K}×${N}`, backend === 'wasm' ? `wasm (${e.variant})` : 'typescript', layout, workers === 0 ? 'inline' : workers, ms, gflops, ofPeak, `${(base[backend] / ms).toFixed(2)}×`]);
        }
      }
    }
    x.dispose(); weights.rows.dispose(); weights.panels.dispose(); out.dispose();
  }
  // Dispatch: a tiny GEMM of two column blocks, so the calling thread computes one and hands the other to a pool
  // thread (post, the thread runs it, done), against the same inline.
  const e = new Engine({ workers: 2, minPoolFlops: 0 });
  const inline = new Engine({ workers: 0 });
  const x = Tensor.from([1, 2], [1, 2]), w = Tensor.from(new Float32Array(64).fill(1), [32, 2]), out = Tensor.empty('float32', [1, 32]);
  const call = (engine: Engine) => engine.run('linear', { out, x, w }, { M: 1, K: 2, N: 32 });
  const pooled = await timeIt(() => call(e), { warmup: 50, runs: 2000 });
  const local = await timeIt(() => call(inline), { warmup: 50, runs: 2000 });
  const handed = e.stats.tasks;
  await e.close();
  const peakLine = peak ? `WebAssembly SIMD peak: ${peak.toFixed(1)} GFLOP/s a core (independent 4-lane fused multiply-adds in registers; "of peak" = GFLOP/s ÷ (peak × threads)); native AVX2 code has twice the width.` : '(no relaxed SIMD here: peak not measured)';
  return `${table(rows)}\n\n${peakLine}\npool hand-over: ${((pooled - local) * 1000).toFixed(0)} µs per kernel call (${(pooled * 1000).toFixed(0)} µs with ${handed} shares handed to a pool thread vs ${(local * 1000).toFixed(1)} µs inline); calls under ${new Engine({ workers: 0 }).minPoolFlops.toLocaleString('en-US')} FLOP run inline.`;
}
