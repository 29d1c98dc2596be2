import { Activation, Engine } from '@attnflow/kernels';
import { Tensor } from '@attnflow/tensor';
import { table, timeIt } from './common.js';

/** GEMM GFLOP/s (TypeScript and WebAssembly kernels, 1 and 2 workers) and the cost of one pool dispatch. */
export async function kernelsBench(): Promise<string> {
  const rows: (string | number)[][] = [['GEMM M×K×N', 'backend', 'workers', 'ms', 'GFLOP/s', 'speed-up']];
  for (const [M, K, N] of [[4096, 384, 1536], [4096, 1536, 384], [16, 384, 1536]]) {
    const x = Tensor.from(new Float32Array(M * K).map((_, i) => Math.sin(i)), [M, K]);
    const w = Tensor.from(new Float32Array(N * K).map((_, i) => Math.cos(i)), [N, K]);
    const out = Tensor.empty('float32', [M, N]);
    const base: Record<string, number> = {};
    for (const backend of ['js', 'wasm'] as const) {
      for (const workers of [0, 1, 2]) {
        if (backend === 'js' && M * K * N > 1e9 && workers === 0) continue;
        const e = new Engine({ workers, backend, minPoolFlops: 0 });
        const ms = await timeIt(() => e.run('linear', { out, x, w }, { M, K, N, activation: Activation.gelu }), { warmup: 1, runs: 3, minMs: 300 });
        await e.close();
        base[backend] ??= ms;
        rows.push([`${M}×${K}×${N}`, backend === 'wasm' ? `wasm (${e.variant})` : 'typescript', workers === 0 ? 'inline' : workers, ms, (2 * M * K * N) / ms / 1e6, `${(base[backend] / ms).toFixed(2)}×`]);
      }
    }
    x.dispose(); w.dispose(); out.dispose();
  }
  // Dispatch: a one-row GEMM through the pool (post, wake a worker, run, reply) against the same inline.
  const e = new Engine({ workers: 2, minPoolFlops: 0 });
  const inline = new Engine({ workers: 0 });
  const x = Tensor.from([1, 2], [1, 2]), w = Tensor.from([3, 4], [1, 2]), out = Tensor.empty('float32', [1, 1]);
  const pooled = await timeIt(() => e.run('linear', { out, x, w }, { M: 1, K: 2, N: 1 }), { warmup: 50, runs: 2000 });
  const local = await timeIt(() => inline.run('linear', { out, x, w }, { M: 1, K: 2, N: 1 }), { warmup: 50, runs: 2000 });
  await e.close();
  return `${table(rows)}\n\npool dispatch overhead: ${((pooled - local) * 1000).toFixed(0)} µs per kernel call (${(pooled * 1000).toFixed(0)} µs through the pool vs ${(local * 1000).toFixed(1)} µs inline); calls under ${new Engine({ workers: 0 }).minPoolFlops.toLocaleString('en-US')} FLOP run inline.`;
}
