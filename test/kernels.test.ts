import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '@attnflow/tensor';
import { kernels as faultKernels } from './helpers/fault-kernels.mjs';
import { Activation, Engine, applyActivation, attention, erf, linear, linearReference, MOST_NEGATIVE_F32, norm, packPanels, unpackPanels, type AttentionArgs } from '@attnflow/kernels';
import { expectClose, randomArray, rng } from './helpers/fixtures.js';

const rand = rng(42);

/** The plainest possible loops, independent of the kernels' code. */
function naiveLinear(x: Float32Array, w: Float32Array, b: Float32Array, M: number, K: number, N: number, act: number) {
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = b[j];
      for (let k = 0; k < K; k++) s += x[i * K + k] * w[j * K + k];
      out[i * N + j] = applyActivation(act, s);
    }
  return out;
}

function naiveAttention(q: Float32Array, k: Float32Array, v: Float32Array, B: number, H: number, L: number, S: number, D: number, scale: number, mask?: Int32Array, causal = false) {
  const out = new Float32Array(B * L * H * D);
  const probs = new Float32Array(B * H * L * S);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < L; i++) {
        const s: number[] = [];
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[((b * L + i) * H + h) * D + d] * k[((b * S + j) * H + h) * D + d];
          const masked = (mask && mask[b * S + j] === 0) || (causal && j > S - L + i);
          s.push(masked ? -Infinity : dot * scale);
        }
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j < S; j++) {
          const p = e[j] / z;
          probs[((b * H + h) * L + i) * S + j] = p;
          for (let d = 0; d < D; d++) out[((b * L + i) * H + h) * D + d] += p * v[((b * S + j) * H + h) * D + d];
        }
      }
  return { out, probs };
}

describe('kernels against naive loops, odd shapes', () => {
  it('erf matches known values', () => {
    expect(erf(0)).toBeCloseTo(0, 6);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 6);
    expect(erf(-1.5)).toBeCloseTo(-0.9661051464753108, 6);
    expect(erf(3)).toBeCloseTo(0.9999779095030014, 6);
    expect(erf(6)).toBeCloseTo(1, 6);
  });

  for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [5, 17, 9], [13, 32, 37], [8, 64, 4]]) {
    for (const act of [Activation.none, Activation.gelu, Activation.geluTanh, Activation.silu, Activation.relu]) {
      it(`linear ${M}x${K}x${N} act ${act}: fast = reference = naive, rows and packed panels`, () => {
        const x = randomArray(M * K, rand), w = randomArray(N * K, rand), b = randomArray(N, rand);
        const expected = naiveLinear(x, w, b, M, K, N, act);
        for (const packed of [false, true]) {
          const weight = packed ? packPanels(w, N, K) : w;
          const fast = new Float32Array(M * N), ref = new Float32Array(M * N);
          linear(fast, x, weight, b, undefined, undefined, { M, K, N, activation: act, packed });
          linearReference(ref, x, weight, b, undefined, undefined, { M, K, N, activation: act, packed });
          expectClose(fast, expected, 1e-5, `fast packed=${packed}`);
          expectClose(ref, expected, 1e-5, `reference packed=${packed}`);
        }
      });
    }
  }

  it('panels: packing (N, K) rows and (K, N) columns gives the same panels, zero past N; unpacking restores', () => {
    const N = 11, K = 5;
    const w = randomArray(N * K, rand);
    const t = new Float32Array(K * N);
    for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) t[k * N + j] = w[j * K + k];
    const p = packPanels(w, N, K);
    expect(p.length).toBe(16 * K);
    expect([...packPanels(t, N, K, true)]).toEqual([...p]);
    expect(p[(K + 2) * 8 + 1]).toBe(w[9 * K + 2]); // W[9, 2]: panel 1, k 2, column 1
    for (let k = 0; k < K; k++) for (let c = 3; c < 8; c++) expect(p[(K + k) * 8 + c]).toBe(0);
    expect([...unpackPanels(p, N, K)]).toEqual([...w]);
  });

  it('linear epilogue: gate, residual and strided rows', () => {
    const M = 5, K = 7, N = 6;
    const x = randomArray(M * 9, rand), w = randomArray(N * K, rand);
    const gate = randomArray(M * N, rand), res = randomArray(M * N, rand);
    const out = new Float32Array(M * N);
    linear(out, x, w, undefined, gate, res, { M, K, N, xStride: 9, activation: Activation.relu });
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[i * 9 + k] * w[j * K + k];
        expect(out[i * N + j]).toBeCloseTo(Math.max(s, 0) * gate[i * N + j] + res[i * N + j], 5);
      }
  });

  it('LayerNorm and RMSNorm with residual', () => {
    const rows = 3, dim = 11;
    const x = randomArray(rows * dim, rand, 3), r = randomArray(rows * dim, rand), w = randomArray(dim, rand), b = randomArray(dim, rand);
    const out = new Float32Array(rows * dim);
    norm(out, x, r, w, b, { rows, dim, eps: 1e-5 });
    const rms = new Float32Array(rows * dim);
    norm(rms, x, undefined, w, undefined, { rows, dim, eps: 1e-6, rms: true });
    for (let i = 0; i < rows; i++) {
      const row = Array.from({ length: dim }, (_, c) => x[i * dim + c] + r[i * dim + c]);
      const mean = row.reduce((a, c) => a + c, 0) / dim;
      const varr = row.reduce((a, c) => a + (c - mean) ** 2, 0) / dim;
      const ms = Array.from({ length: dim }, (_, c) => x[i * dim + c] ** 2).reduce((a, c) => a + c, 0) / dim;
      for (let c = 0; c < dim; c++) {
        expect(out[i * dim + c]).toBeCloseTo(((row[c] - mean) / Math.sqrt(varr + 1e-5)) * w[c] + b[c], 5);
        expect(rms[i * dim + c]).toBeCloseTo((x[i * dim + c] / Math.sqrt(ms + 1e-6)) * w[c], 5);
      }
    }
  });

  for (const [B, H, L, S, D, causal, masked] of [[1, 1, 1, 1, 1, false, false], [2, 3, 5, 5, 7, false, true], [3, 2, 4, 9, 5, true, true], [1, 4, 1, 13, 8, true, false]] as const) {
    it(`attention B${B} H${H} L${L} S${S} D${D} causal=${causal} mask=${masked}`, () => {
      const q = randomArray(B * L * H * D, rand), k = randomArray(B * S * H * D, rand), v = randomArray(B * S * H * D, rand);
      const mask = masked ? Int32Array.from({ length: B * S }, (_, i) => (i % S === S - 1 && S > 1 ? 0 : 1)) : undefined;
      const scale = 1 / Math.sqrt(D);
      const expected = naiveAttention(q, k, v, B, H, L, S, D, scale, mask, causal);
      const out = new Float32Array(B * L * H * D), probs = new Float32Array(B * H * L * S);
      const args: AttentionArgs = { batch: B, numHeads: H, headDim: D, qLen: L, kLen: S, qRowStride: H * D, kvRowStride: H * D, outRowStride: H * D, qBatchStride: L * H * D, kvBatchStride: S * H * D, outBatchStride: L * H * D, scale, causal };
      attention({ out, q, k, v, keyMask: mask, probs }, args);
      expectClose(out, expected.out, 1e-5, 'out');
      expectClose(probs, expected.probs, 1e-6, 'probs');
    });
  }

  it('a row with every key masked is uniform, as with Hugging Face and the -1e20 fill', () => {
    const out = new Float32Array(2), probs = new Float32Array(2);
    attention({ out, q: new Float32Array([1, 1]), k: new Float32Array([1, 2]), v: new Float32Array([3, 5]), keyMask: new Int32Array([0, 0]), probs },
      { batch: 1, numHeads: 1, headDim: 1, qLen: 2, kLen: 2, qRowStride: 1, kvRowStride: 1, outRowStride: 1, qBatchStride: 2, kvBatchStride: 2, outBatchStride: 2, scale: 1 });
    expect([...probs]).toEqual([0.5, 0.5]);
    expect(out[0]).toBe(4);
  });
});

describe('Engine: the worker pool on shared tensors', () => {
  const pooled = new Engine({ workers: 2, minPoolFlops: 0, extensions: { kernels: faultKernels, module: new URL('./helpers/fault-kernels.mjs', import.meta.url) } });
  const inline = new Engine({ workers: 0 });
  afterAll(() => pooled.close());

  it('workers write results into shared tensors, equal to the single-thread result', async () => {
    const M = 37, K = 29, N = 23;
    const x = Tensor.from(randomArray(M * K, rand), [M, K]), w = Tensor.from(randomArray(N * K, rand), [N, K]), b = Tensor.from(randomArray(N, rand), [N]);
    const a = Tensor.empty('float32', [M, N]), c = Tensor.empty('float32', [M, N]);
    const before = pooled.stats.tasks;
    await pooled.run('linear', { out: a, x, w, bias: b }, { M, K, N, activation: Activation.gelu });
    await inline.run('linear', { out: c, x, w, bias: b }, { M, K, N, activation: Activation.gelu });
    expect(pooled.stats.tasks - before).toBe(1); // a short call: the calling thread computes the other share
    expect([...a.data]).toEqual([...c.data]);
  });

  it('attention splits over batch×heads with identical results', async () => {
    const B = 3, H = 4, L = 6, D = 5;
    const qkv = Tensor.from(randomArray(B * L * 3 * H * D, rand), [B, L, 3 * H * D]);
    const outs = [Tensor.empty('float32', [B, L, H * D]), Tensor.empty('float32', [B, L, H * D])];
    const refAt = (col: number) => ({ ...qkv.ref, byteOffset: qkv.byteOffset + col * 4, length: qkv.size - col });
    const args = { batch: B, numHeads: H, headDim: D, qLen: L, kLen: L, qRowStride: 3 * H * D, kvRowStride: 3 * H * D, outRowStride: H * D, qBatchStride: L * 3 * H * D, kvBatchStride: L * 3 * H * D, outBatchStride: L * H * D, scale: 0.3, causal: true };
    await pooled.run('attention', { out: outs[0], q: refAt(0), k: refAt(H * D), v: refAt(2 * H * D) }, args);
    await inline.run('attention', { out: outs[1], q: refAt(0), k: refAt(H * D), v: refAt(2 * H * D) }, args);
    expect([...outs[0].data]).toEqual([...outs[1].data]);
  });

  it('sees tensors allocated after the arena grew', async () => {
    const big = Tensor.empty('float32', [8 << 20]); // forces growth past the initial 16 MiB
    const x = Tensor.from([1, 2, 3, 4], [2, 2]), w = Tensor.from([1, 0, 0, 1], [2, 2]), out = Tensor.empty('float32', [2, 2]);
    await pooled.run('linear', { out, x, w }, { M: 2, K: 2, N: 2 });
    expect([...out.data]).toEqual([1, 2, 3, 4]);
    big.dispose();
  });

  it('a pool thread that left its idle slot is restarted by the next call; concurrent calls queue', async () => {
    const M = 8, K = 16, N = 64;
    const x = Tensor.from(randomArray(M * K, rand), [M, K]), w = Tensor.from(randomArray(N * K, rand), [N, K]);
    const expected = Tensor.empty('float32', [M, N]);
    await inline.run('linear', { out: expected, x, w }, { M, K, N });
    const outs = Array.from({ length: 6 }, () => Tensor.empty('float32', [M, N]));
    await pooled.run('linear', { out: outs[0], x, w }, { M, K, N });
    await new Promise((r) => setTimeout(r, 400)); // longer than a serve loop waits before it leaves its slot
    const before = pooled.stats.retries;
    await Promise.all(outs.slice(1).map((out) => pooled.run('linear', { out, x, w }, { M, K, N })));
    expect(pooled.stats.retries).toBe(before);
    for (const out of outs) expect([...out.data]).toEqual([...expected.data]);
  });

  it('replaces a crashed worker and retries its task', async () => {
    const flag = Tensor.fromInt32([1]);
    const before = pooled.stats.retries;
    await pooled.runKernel('exitOnce', { flag }, {});
    expect(pooled.stats.retries).toBe(before + 1);
    expect(flag.data[0]).toBe(0);
    const x = Tensor.from([1, 2], [1, 2]), w = Tensor.from([3, 4], [1, 2]), out = Tensor.empty('float32', [1, 1]);
    await pooled.run('linear', { out, x, w }, { M: 1, K: 2, N: 1 });
    expect(out.data[0]).toBe(11);
  });
});

describe('WebAssembly SIMD kernels against the TypeScript reference, odd shapes', () => {
  const wasm = new Engine({ workers: 0, backend: 'wasm' });
  const js = new Engine({ workers: 0, backend: 'js' });
  const r = rng(7);

  it('the default engine runs the SIMD kernels', () => {
    expect(new Engine({ workers: 0 }).backend).toBe('wasm');
  });

  for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [5, 17, 9], [13, 37, 37], [9, 64, 130], [64, 384, 67]]) {
    for (const activation of [Activation.none, Activation.gelu, Activation.geluTanh, Activation.silu, Activation.relu, Activation.tanh]) {
      it(`linear ${M}x${K}x${N} activation ${activation}, with gate and residual, rows and packed panels`, async () => {
        const x = Tensor.from(randomArray(M * K, r, 2), [M, K]), rows = randomArray(N * K, r), b = Tensor.from(randomArray(N, r), [N]);
        const gate = Tensor.from(randomArray(M * N, r), [M, N]), res = Tensor.from(randomArray(M * N, r), [M, N]);
        for (const packed of [false, true]) {
          const w = packed ? Tensor.from(packPanels(rows, N, K)) : Tensor.from(rows, [N, K]);
          const fast = Tensor.empty('float32', [M, N]), ref = Tensor.empty('float32', [M, N]);
          await wasm.run('linear', { out: fast, x, w, bias: b, gate: activation === Activation.silu ? gate : undefined, residual: res }, { M, K, N, activation, packed });
          linearReference(ref.data, x.data, w.data, b.data, activation === Activation.silu ? gate.data : undefined, res.data, { M, K, N, activation, packed });
          expectClose(fast.data, ref.data, 2e-5 * Math.sqrt(K), `linear packed=${packed}`);
        }
      });
    }
  }

  for (const [rows, dim, rms] of [[1, 1, false], [3, 7, false], [5, 384, false], [4, 33, true]] as const) {
    it(`norm ${rows}x${dim} rms=${rms}, in place with residual`, async () => {
      const x = randomArray(rows * dim, r, 3), res = randomArray(rows * dim, r);
      const w = Tensor.from(randomArray(dim, r), [dim]), b = Tensor.from(randomArray(dim, r), [dim]);
      const a = Tensor.from(x, [rows, dim]), c = Tensor.from(x, [rows, dim]), rt = Tensor.from(res, [rows, dim]);
      await wasm.run('norm', { out: a, x: a, residual: rt, weight: w, bias: rms ? undefined : b }, { rows, dim, eps: 1e-5, rms });
      await js.run('norm', { out: c, x: c, residual: rt, weight: w, bias: rms ? undefined : b }, { rows, dim, eps: 1e-5, rms });
      expectClose(a.data, c.data, 1e-4, 'norm');
    });
  }

  for (const [B, H, L, S, D, causal, masked, bias] of [[1, 1, 1, 1, 1, false, false, false], [2, 3, 5, 5, 7, false, true, false], [3, 2, 4, 9, 5, true, true, true], [2, 12, 33, 33, 32, false, true, false], [1, 4, 1, 13, 8, true, false, true]] as const) {
    it(`attention B${B} H${H} L${L} S${S} D${D} causal=${causal} mask=${masked} bias=${bias}`, async () => {
      const q = Tensor.from(randomArray(B * L * H * D, r), [B * L, H * D]), k = Tensor.from(randomArray(B * S * H * D, r), [B * S, H * D]), v = Tensor.from(randomArray(B * S * H * D, r), [B * S, H * D]);
      const keyMask = masked ? Tensor.fromInt32(Array.from({ length: B * S }, (_, i) => (i % S === S - 1 && S > 1 ? 0 : 1)), [B, S]) : undefined;
      const positionBias = bias ? Tensor.from(randomArray(H * L * S, r), [H, L, S]) : undefined;
      const args = { batch: B, numHeads: H, headDim: D, qLen: L, kLen: S, qRowStride: H * D, kvRowStride: H * D, outRowStride: H * D, qBatchStride: L * H * D, kvBatchStride: S * H * D, outBatchStride: L * H * D, scale: 1 / Math.sqrt(D), causal };
      const outs = [Tensor.empty('float32', [B * L, H * D]), Tensor.empty('float32', [B * L, H * D])];
      const probs = [Tensor.empty('float32', [B, H, L, S]), Tensor.empty('float32', [B, H, L, S])];
      await wasm.run('attention', { out: outs[0], q, k, v, keyMask, positionBias, probs: probs[0] }, args);
      await js.run('attention', { out: outs[1], q, k, v, keyMask, positionBias, probs: probs[1] }, args);
      expectClose(outs[0].data, outs[1].data, 1e-5, 'out');
      expectClose(probs[0].data, probs[1].data, 1e-6, 'probs');
      const withoutProbs = Tensor.empty('float32', [B * L, H * D]);
      await wasm.run('attention', { out: withoutProbs, q, k, v, keyMask, positionBias }, args);
      expect(Array.from(withoutProbs.data)).toEqual(Array.from(outs[0].data));
      if (causal) for (let i = 0; i < L; i++) for (let j = S - L + i + 1; j < S; j++) expect(probs[0].data[i * S + j]).toBe(0);
    });
  }
  it('attention with a per-batch bias (biasBatchStride), fill values masking whole query rows: WASM equals TS', async () => {
    const B = 3, H = 2, L = 6, D = 5;
    const q = Tensor.from(randomArray(B * L * H * D, r), [B * L, H * D]), k = Tensor.from(randomArray(B * L * H * D, r), [B * L, H * D]), v = Tensor.from(randomArray(B * L * H * D, r), [B * L, H * D]);
    const bias = randomArray(B * H * L * L, r);
    // row b has b padded positions at the end: scores with a padded query or key take the most negative float
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) if (i >= L - b || j >= L - b) bias[((b * H + h) * L + i) * L + j] = MOST_NEGATIVE_F32;
    const positionBias = Tensor.from(bias, [B, H, L, L]);
    const args = { batch: B, numHeads: H, headDim: D, qLen: L, kLen: L, qRowStride: H * D, kvRowStride: H * D, outRowStride: H * D, qBatchStride: L * H * D, kvBatchStride: L * H * D, outBatchStride: L * H * D, scale: 1 / Math.sqrt(3 * D), biasBatchStride: H * L * L };
    const probs = [Tensor.empty('float32', [B, H, L, L]), Tensor.empty('float32', [B, H, L, L])];
    const outs = [Tensor.empty('float32', [B * L, H * D]), Tensor.empty('float32', [B * L, H * D])];
    await wasm.run('attention', { out: outs[0], q, k, v, positionBias, probs: probs[0] }, args);
    await js.run('attention', { out: outs[1], q, k, v, positionBias, probs: probs[1] }, args);
    expectClose(outs[0].data, outs[1].data, 1e-5, 'out');
    expectClose(probs[0].data, probs[1].data, 1e-6, 'probs');
    // a fully masked query row (b = 2, query L - 1) attends uniformly; a real one gives masked keys weight 0
    const row = (b: number, i: number) => Array.from(probs[0].data.subarray(((b * H) * L + i) * L, ((b * H) * L + i + 1) * L));
    for (const p of row(2, L - 1)) expect(p).toBeCloseTo(1 / L, 6);
    expect(row(2, 0).slice(L - 2)).toEqual([0, 0]);
  });
});

describe('batch independence: the SIMD kernels give a text the same bits whatever its padding', () => {
  it('a packed linear gives a row the same bits in every batch size and split (1, 3, 4, 63 and 130 rows; 2 workers)', async () => {
    const wasm = new Engine({ workers: 0, backend: 'wasm' });
    const pooled = new Engine({ workers: 2, backend: 'wasm', minPoolFlops: 0 });
    const r = rng(5);
    const K = 67, N = 45;
    const rows = randomArray(130 * K, r);
    const w = Tensor.from(packPanels(randomArray(N * K, r), N, K)), b = Tensor.from(randomArray(N, r), [N]);
    const firstRows: number[][] = [];
    for (const M of [1, 3, 4, 63, 130]) {
      for (const engine of [wasm, pooled]) {
        const x = Tensor.from(rows.subarray(0, M * K), [M, K]), out = Tensor.empty('float32', [M, N]);
        await engine.run('linear', { out, x, w, bias: b }, { M, K, N, activation: Activation.gelu, packed: true });
        firstRows.push(Array.from(out.data.subarray(0, N)));
      }
    }
    await pooled.close();
    for (const row of firstRows) expect(row).toEqual(firstRows[0]);
  });

  it('attention over 5 real keys equals the same with 0–11 padded keys, exactly', async () => {
    const wasm = new Engine({ workers: 0, backend: 'wasm' });
    const r = rng(3);
    const H = 2, D = 7, L = 5;
    const rows = randomArray(L * 3 * H * D, r);
    const results: number[][] = [];
    for (const pad of [0, 1, 3, 4, 11]) {
      for (const qLen of ['all', 'one'] as const) {
        const S = L + pad;
        const qkv = Tensor.zeros('float32', [S, 3 * H * D]);
        qkv.data.set(rows);
        const ref = (c: number) => ({ ...qkv.ref, byteOffset: qkv.byteOffset + c * 4, length: qkv.size - c });
        const mask = Tensor.fromInt32(Array.from({ length: S }, (_, j) => (j < L ? 1 : 0)), [1, S]);
        const out = Tensor.empty('float32', [S, H * D]);
        const Lq = qLen === 'all' ? S : 1;
        await wasm.run('attention', { out, q: ref(0), k: ref(H * D), v: ref(2 * H * D), keyMask: mask }, {
          batch: 1, numHeads: H, headDim: D, qLen: Lq, kLen: S, qRowStride: 3 * H * D, kvRowStride: 3 * H * D, outRowStride: H * D,
          qBatchStride: S * 3 * H * D, kvBatchStride: S * 3 * H * D, outBatchStride: S * H * D, scale: 0.4,
        });
        results.push(Array.from(out.data.subarray(0, (qLen === 'all' ? L : 1) * H * D)));
      }
    }
    const firstRow = (x: number[]) => x.slice(0, H * D);
    for (const res of results) expect(firstRow(res)).toEqual(firstRow(results[0]));
    for (let k = 0; k < results.length; k += 2) expect(results[k]).toEqual(results[0]);
  });
});

describe('the kernel contract', () => {
  it('refuses a tensor or attribute the kernel does not declare, inline as on the pool', async () => {
    const x = Tensor.from([1, 2], [1, 2]), w = Tensor.from([3, 4], [1, 2]), out = Tensor.empty('float32', [1, 1]);
    for (const workers of [0, 2]) {
      const engine = new Engine({ workers, minPoolFlops: 0 });
      await expect(engine.runKernel('linear', { out, x, w }, { M: 1, K: 2, N: 1, bogus: 1 })).rejects.toThrow(/attribute "bogus" is not one it declares/);
      await expect(engine.runKernel('linear', { out, x, w, q: x }, { M: 1, K: 2, N: 1 })).rejects.toThrow(/tensor "q" is not one it declares/);
      await expect(engine.runKernel('nope', {}, {})).rejects.toThrow(/unknown kernel "nope"/);
      await engine.close();
    }
  });
});
