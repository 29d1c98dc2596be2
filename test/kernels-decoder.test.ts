import { describe, expect, it } from 'vitest';
import { Tensor, widenBF16, widenF16 } from '@attnflow/tensor';
import { Engine, packPanels, rope, WeightType } from '@attnflow/kernels';
import { expectClose, randomArray, rng } from './helpers/fixtures.js';

/** The kernels today's decoders add (RoPE, grouped-query/sliding/soft-capped attention, per-head norm): SIMD against TypeScript against plain loops. */
describe('decoder kernels: WebAssembly SIMD = TypeScript = naive loops', () => {
  const wasm = new Engine({ workers: 0, backend: 'wasm' });
  const js = new Engine({ workers: 0, backend: 'js' });
  const r = rng(11);

  for (const [rows, heads, headDim, rotaryDim, extra] of [[1, 1, 2, 2, 0], [3, 5, 16, 12, 3], [4, 3, 16, 4, 0], [2, 2, 64, 64, 7], [5, 1, 10, 6, 0]]) {
    it(`rope rows ${rows} heads ${heads} headDim ${headDim} rotary ${rotaryDim}: pairs (i, i + d/2), the rest unchanged`, async () => {
      const stride = heads * headDim + extra;
      const half = rotaryDim / 2;
      const x = randomArray(rows * stride, r), cos = randomArray(rows * half, r), sin = randomArray(rows * half, r);
      const expected = Float32Array.from(x);
      for (let t = 0; t < rows; t++) for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) {
        const a = t * stride + h * headDim + i, b = a + half, c = cos[t * half + i], s = sin[t * half + i];
        [expected[a], expected[b]] = [x[a] * c - x[b] * s, x[b] * c + x[a] * s];
      }
      const args = { rows, heads, headDim, rotaryDim, rowStride: stride };
      const plain = Float32Array.from(x);
      rope(plain, cos, sin, args);
      expectClose(plain, expected, 1e-6, 'ts');
      for (const engine of [wasm, js]) {
        const t = Tensor.from(x, [rows, stride]);
        await engine.run('rope', { x: t, cos: Tensor.from(cos, [rows, half]), sin: Tensor.from(sin, [rows, half]) }, args);
        expectClose(t.data, expected, 1e-6, engine.backend);
      }
    });
  }

  /** softmax(cap·tanh(q·k·scale / cap), window and mask) v with query head h reading kv head h / group. */
  function naive(q: Float32Array, k: Float32Array, v: Float32Array, o: { B: number; H: number; KV: number; L: number; S: number; D: number; scale: number; window: number; cap: number; mask: Int32Array; maskStride: number; maskOffset: number }) {
    const { B, H, KV, L, S, D } = o;
    const out = new Float32Array(B * L * H * D);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) {
      const g = Math.floor(h / (H / KV));
      const abs = S - L + i;
      const s: number[] = [];
      for (let j = 0; j < S; j++) {
        const visible = j <= abs && (!o.window || j > abs - o.window) && o.mask[b * o.maskStride + o.maskOffset + j] === 1;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[((b * L + i) * H + h) * D + d] * k[((b * S + j) * KV + g) * D + d];
        let score = dot * o.scale;
        if (o.cap) score = Math.tanh(score / o.cap) * o.cap;
        s.push(visible ? score : -Infinity);
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, c) => a + c, 0);
      for (let j = 0; j < S; j++) for (let d = 0; d < D; d++) out[((b * L + i) * H + h) * D + d] += (e[j] / z) * v[((b * S + j) * KV + g) * D + d];
    }
    return out;
  }

  for (const [B, H, KV, L, S, D, window, cap, offset] of [[1, 4, 2, 5, 5, 8, 0, 0, 0], [2, 6, 2, 7, 7, 16, 3, 0, 0], [2, 4, 1, 1, 9, 8, 4, 10, 2], [1, 2, 2, 9, 12, 5, 6, 5, 3], [3, 8, 4, 17, 17, 16, 5, 30, 0], [2, 4, 2, 1, 37, 10, 0, 0, 1], [1, 4, 4, 2, 70, 64, 20, 0, 0]]) {
    it(`attention B${B} heads ${H}/${KV} L${L} S${S} D${D} window ${window} softCap ${cap} maskOffset ${offset}`, async () => {
      const q = randomArray(B * L * H * D, r, 2), k = randomArray(B * S * KV * D, r, 2), v = randomArray(B * S * KV * D, r);
      const maskStride = S + offset;
      // the first real key of each row is b (left padding), in the columns after the dropped ones
      const mask = Int32Array.from({ length: B * maskStride }, (_, n) => (n % maskStride >= offset + (Math.floor(n / maskStride) % S) ? 1 : 0));
      const scale = 1 / Math.sqrt(D);
      const expected = naive(q, k, v, { B, H, KV, L, S, D, scale, window, cap, mask, maskStride, maskOffset: offset });
      const args = {
        batch: B, numHeads: H, kvHeads: KV, headDim: D, qLen: L, kLen: S, qRowStride: H * D, kvRowStride: KV * D, outRowStride: H * D,
        qBatchStride: L * H * D, kvBatchStride: S * KV * D, outBatchStride: L * H * D, scale, causal: true, window, softCap: cap, maskStride, maskOffset: offset,
      };
      for (const engine of [wasm, js]) {
        const out = Tensor.empty('float32', [B * L, H * D]);
        await engine.run('attention', { out, q: Tensor.from(q), k: Tensor.from(k), v: Tensor.from(v), keyMask: Tensor.fromInt32(mask, [B, maskStride]) }, args);
        // a query whose every key is masked (a padded one) has no meaningful output: compare the others
        const valid = (n: number) => !Number.isNaN(expected[n]);
        expectClose(out.data.filter((_, n) => valid(n)), expected.filter((_, n) => valid(n)), 2e-5, engine.backend);
      }
    });
  }

  // A decoded token's attention (one query against the cache) takes another path through the kernel than a
  // prompt's (queries in pairs against a transposed Kᵀ); both must give the same bits, or generating with a
  // cache would drift from recomputing the whole text.
  for (const [B, H, KV, S, D] of [[1, 4, 2, 37, 20], [2, 6, 3, 70, 64], [1, 2, 1, 16, 7], [1, 3, 3, 5, 33]]) {
    it(`attention B${B} heads ${H}/${KV} S${S} D${D}: each query alone against its prefix of the cache = its row of the causal pass, bit for bit`, async () => {
      const q = randomArray(B * S * H * D, r, 2), k = randomArray(B * S * KV * D, r, 2), v = randomArray(B * S * KV * D, r);
      const strides = { numHeads: H, kvHeads: KV, headDim: D, qRowStride: H * D, kvRowStride: KV * D, outRowStride: H * D, kvBatchStride: S * KV * D, scale: 1 / Math.sqrt(D), causal: true };
      const full = Tensor.empty('float32', [B * S, H * D]);
      await wasm.run('attention', { out: full, q: Tensor.from(q), k: Tensor.from(k), v: Tensor.from(v) }, { ...strides, batch: B, qLen: S, kLen: S, qBatchStride: S * H * D, outBatchStride: S * H * D });
      const keys = Tensor.from(k), values = Tensor.from(v);
      for (let i = 0; i < S; i++) {
        const qi = new Float32Array(B * H * D);
        for (let b = 0; b < B; b++) qi.set(q.subarray((b * S + i) * H * D, (b * S + i + 1) * H * D), b * H * D);
        const one = Tensor.empty('float32', [B, H * D]);
        await wasm.run('attention', { out: one, q: Tensor.from(qi), k: keys, v: values }, { ...strides, batch: B, qLen: 1, kLen: i + 1, qBatchStride: H * D, outBatchStride: H * D });
        for (let b = 0; b < B; b++) expect(Array.from(one.data.subarray(b * H * D, (b + 1) * H * D))).toEqual(Array.from(full.data.subarray((b * S + i) * H * D, (b * S + i + 1) * H * D)));
      }
    });
  }

  it('per-head RMSNorm over the q columns of a fused projection, the rest untouched', async () => {
    const rows = 3, groups = 4, dim = 16, stride = groups * dim + 24;
    const x = randomArray(rows * stride, r, 3), w = randomArray(dim, r);
    const expected = Float32Array.from(x);
    for (let t = 0; t < rows; t++) for (let g = 0; g < groups; g++) {
      const at = t * stride + g * dim;
      const ms = Array.from({ length: dim }, (_, c) => x[at + c] ** 2).reduce((a, c) => a + c, 0) / dim;
      for (let c = 0; c < dim; c++) expected[at + c] = (x[at + c] / Math.sqrt(ms + 1e-6)) * w[c];
    }
    for (const engine of [wasm, js]) {
      const t = Tensor.from(x, [rows, stride]);
      await engine.run('norm', { out: t, x: t, weight: Tensor.from(w) }, { rows, dim, eps: 1e-6, rms: true, groups, rowStride: stride });
      expectClose(t.data, expected, 1e-5, engine.backend);
    }
  });
});

describe('half-precision weights: widened in the kernels, exactly as widening them first', () => {
  const wasm = new Engine({ workers: 0, backend: 'wasm' });
  const js = new Engine({ workers: 0, backend: 'js' });
  const r = rng(13);
  const toBF16 = (x: Float32Array) => Uint16Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length), (b) => b >>> 16);
  /** float16 bits of a few values that cover normals, subnormals, zero, ±infinity-free ranges. */
  const toF16 = (x: Float32Array) => Uint16Array.from(x, (v) => {
    const s = v < 0 ? 0x8000 : 0, a = Math.abs(v);
    if (a < 2 ** -14) return s | Math.round(a / 2 ** -24);
    const e = Math.floor(Math.log2(a));
    return s | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
  });

  for (const [M, K, N] of [[1, 8, 8], [3, 17, 13], [5, 64, 40], [70, 33, 24]]) {
    for (const dtype of ['bfloat16', 'float16'] as const) {
      it(`linear ${M}x${K}x${N} ${dtype}: packed panels and rows`, async () => {
        const x = Tensor.from(randomArray(M * K, r, 2), [M, K]);
        const values = randomArray(N * K, r);
        values[0] = 3e-6; // a float16 subnormal
        const bits = dtype === 'bfloat16' ? toBF16(values) : toF16(values);
        const widened = new Float32Array(bits.length);
        (dtype === 'bfloat16' ? widenBF16 : widenF16)(widened, bits);
        for (const packed of [true, false]) {
          const layout = (w: Float32Array | Uint16Array) => (packed ? packPanels(w, N, K) : w);
          const half = Tensor.empty(dtype, [layout(bits).length]);
          half.data.set(layout(bits));
          const full = Tensor.from(layout(widened));
          const expected = Tensor.empty('float32', [M, N]);
          await js.run('linear', { out: expected, x, w: full }, { M, K, N, packed });
          for (const engine of [wasm, js]) {
            const out = Tensor.empty('float32', [M, N]);
            await engine.run('linear', { out, x, w: half }, { M, K, N, packed, weightType: WeightType[dtype] });
            expectClose(out.data, expected.data, 1e-5 * Math.sqrt(K), `${engine.backend} packed=${packed}`);
          }
        }
      });
    }
  }
});
