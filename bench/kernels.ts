import { Activation, Engine, packPanels, paddedK, Q8_DECODER_GROUP, quantizeWeights, weightRows, WeightType } from '@attnflow/kernels';
import { Tensor } from '@attnflow/tensor';
import { table, timeIt } from './common.js';
import { simdPeak } from './peak.js';

/**
 * GEMM GFLOP/s (TypeScript and WebAssembly kernels; weights packed in panels, as loaded layers have them, or plain
 * rows, as a tied LM head reads them; 8-bit weights with a scale per output channel, as encoders load them in q8,
 * or per group of 32 inputs, as decoders do, times activations quantized per row at each call; inline, 1 and 2
 * workers) and the cost of one hand-over to a pool thread. GFLOP/s counts the float GEMM's operations.
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
    const record = (backend: string, weights: string, workers: number, ms: number, baseMs: number) => {
      const gflops = (2 * M * K * N) / ms / 1e6;
      const ofPeak = peak ? `${((100 * gflops) / (peak * Math.max(1, workers))).toFixed(0)}%` : '-';
      rows.push([`${M}×${K}×${N}`, backend, weights, workers === 0 ? 'inline' : workers, ms, gflops, ofPeak, `${(baseMs / ms).toFixed(2)}×`]);
    };
    for (const backend of ['js', 'wasm'] as const) {
      for (const layout of ['panels', 'rows'] as const) {
        if (backend === 'js' && layout === 'rows') continue;
        for (const workers of [0, 1, 2]) {
          if (backend === 'js' && M * K * N > 1e9 && workers === 0) continue;
          const e = new Engine({ workers, backend, minPoolFlops: 0 });
          const ms = await timeIt(() => e.run('linear', { out, x, w: weights[layout] }, { M, K, N, activation: Activation.gelu, packed: layout === 'panels' }), { warmup: 3, runs: 3, minMs: 300 });
          await e.close();
          base[backend] ??= ms;
          record(backend === 'wasm' ? `wasm (${e.variant})` : 'typescript', layout, workers, ms, base[backend]);
        }
      }
    }
    for (const [label, group] of [['q8 per channel', undefined], [`q8 groups of ${Q8_DECODER_GROUP}`, Q8_DECODER_GROUP]] as const) {
      const q = quantizeWeights(weightRows(plain, WeightType.float32, K, false), N, K, group);
      const w = Tensor.empty('int8', [q.values.length]), scales = Tensor.from(q.scales), offsets = Tensor.from(q.offsets);
      w.data.set(q.values);
      const xq = Tensor.empty('int8', [M, paddedK(K)]), params = Tensor.empty('float32', [M, 2]);
      for (const workers of [0, 1, 2]) {
        const e = new Engine({ workers, minPoolFlops: 0 });
        // as a q8 layer runs: the activations quantized, then the integer GEMM
        const ms = await timeIt(async () => {
          await e.run('quantizeRows', { xq, params, x }, { rows: M, K });
          await e.run('linearQ8', { out, xq, params, w, scales, offsets }, { M, K, N, group: q.group, activation: Activation.gelu });
        }, { warmup: 3, runs: 3, minMs: 300 });
        await e.close();
        record(`wasm (${e.variant})`, label, workers, ms, base.wasm);
      }
      w.dispose(); scales.dispose(); offsets.dispose(); xq.dispose(); params.dispose();
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
  const peakLine = peak ? `WebAssembly SIMD peak: ${peak.toFixed(1)} GFLOP/s a core (independent 4-lane fused multiply-adds in registers; "of peak" = GFLOP/s ÷ (peak × threads)); native AVX2 code has twice the width. q8 rows: quantizeRows + linearQ8, GFLOP/s of the float GEMM they replace, "speed-up" against wasm panels inline.` : '(no relaxed SIMD here: peak not measured)';
  return `${table(rows)}\n\n${peakLine}\npool hand-over: ${((pooled - local) * 1000).toFixed(0)} µs per kernel call (${(pooled * 1000).toFixed(0)} µs with ${handed} shares handed to a pool thread vs ${(local * 1000).toFixed(1)} µs inline); calls under ${new Engine({ workers: 0 }).minPoolFlops.toLocaleString('en-US')} FLOP run inline.`;
}
