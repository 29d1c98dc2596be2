import { Engine, Activation } from '@attnflow/kernels';
import { Tensor } from '@attnflow/tensor';
import { timeIt } from './common.js';
const e = new Engine({ workers: 0 });
const M = 4096, K = 384, N = 1536;
const x = Tensor.from(new Float32Array(M * K).map(() => Math.random() - 0.5), [M, K]);
const w = Tensor.from(new Float32Array(N * K).map(() => Math.random() - 0.5), [N, K]);
const b = Tensor.from(new Float32Array(N), [N]);
const out = Tensor.empty('float32', [M, N]);
for (const act of [Activation.none, Activation.gelu]) {
  const ms = await timeIt(() => e.run('linear', { out, x, w, bias: b }, { M, K, N, activation: act }), { runs: 3 });
  console.log('linear act', act, ms.toFixed(1), 'ms', (2 * M * K * N / ms / 1e6).toFixed(1), 'GFLOP/s');
}
const B = 32, H = 12, L = 128, D = 32;
const qkv = Tensor.from(new Float32Array(B * L * 3 * H * D).map(() => Math.random() - 0.5), [B * L, 3 * H * D]);
const ctx = Tensor.empty('float32', [B * L, H * D]);
const ref = (c: number) => ({ ...qkv.ref, byteOffset: qkv.byteOffset + c * 4, length: qkv.size - c });
const mask = Tensor.fromInt32(new Int32Array(B * L).fill(1), [B, L]);
const ms = await timeIt(() => e.run('attention', { out: ctx, q: ref(0), k: ref(H * D), v: ref(2 * H * D), keyMask: mask }, { batch: B, numHeads: H, headDim: D, qLen: L, kLen: L, qRowStride: 3 * H * D, kvRowStride: 3 * H * D, outRowStride: H * D, qBatchStride: L * 3 * H * D, kvBatchStride: L * 3 * H * D, outBatchStride: L * H * D, scale: 0.17 }), { runs: 3 });
console.log('attention', ms.toFixed(1), 'ms', (4 * B * H * L * L * D / ms / 1e6).toFixed(1), 'GFLOP/s');
const nw = Tensor.from(new Float32Array(K).fill(1), [K]);
const ms2 = await timeIt(() => e.run('norm', { out: x, x, weight: nw, bias: nw }, { rows: M, dim: K, eps: 1e-12 }), { runs: 3 });
console.log('norm', ms2.toFixed(1), 'ms');
