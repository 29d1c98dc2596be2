import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SharedArena, Tensor, sharedArena } from '@attnflow/tensor';
import {
  Activation, Engine, linearQ4, linearQ8, linearQ8Float as linearQ8FloatReference, linearReference, packQ4, packQ8, paddedK, packPanels, q8Groups, Q8_DECODER_GROUP, quantizeRows, quantizeRowsQ4, quantizeRowsQ8,
  quantizeWeights, unpackQ4, unpackQ8, weightRows, WeightType,
  type Q4Weights, type Q8Weights, type WasmKernels,
} from '@attnflow/kernels';
import { Gpt2Model, LlamaModel, loadModel, type LoadedModel } from '@attnflow/models';
import { isQuantized } from '@attnflow/layers';
import { cosineSimilarity, embed } from '@attnflow/pipeline';
import { fixture, randomArray, readJson, rng } from './helpers/fixtures.js';

const r = rng(8);
const wasm = new Engine({ workers: 0, backend: 'wasm' });
const pooled = new Engine({ workers: 2, backend: 'wasm', minPoolFlops: 0 });
afterAll(() => pooled.close());

/** Both builds of the kernels over the default arena's memory: the relaxed one validates after test/helpers/setup.ts's flag. */
const dist = join(dirname(createRequire(import.meta.url).resolve('@attnflow/kernels')));
const build = (file: string) => new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(dist, file))), { env: { memory: sharedArena().memory } }).exports as unknown as WasmKernels;
const builds = { portable: build('kernels.wasm'), relaxed: build('kernels-relaxed.wasm') };

const tensorOf = <T extends Int8Array | Int32Array | Float32Array>(data: T) => {
  const t = Tensor.empty(data instanceof Int8Array ? 'int8' : data instanceof Int32Array ? 'int32' : 'float32', [data.length]);
  t.data.set(data);
  return t;
};
const q4Tensors = (q: Q4Weights) => ({ w: tensorOf(new Int8Array(q.values.buffer, q.values.byteOffset, q.values.length)), scales: tensorOf(q.scales) });
const q8Tensors = (q: Q8Weights) => ({ w: tensorOf(q.values), scales: tensorOf(q.scales), offsets: tensorOf(q.offsets) });

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

// odd shapes: K not a multiple of 4, N not a multiple of 8, rows on both sides of the row/column split (64)
const SHAPES = [[1, 1, 1], [3, 5, 7], [5, 17, 9], [13, 37, 37], [9, 64, 130], [64, 383, 67], [70, 96, 24]] as const;

describe('q8 kernels: quantized rows and integer GEMM', () => {
  for (const [M, K] of SHAPES) {
    it(`quantizeRows ${M}x${K}: the WebAssembly kernel writes the reference's bytes`, async () => {
      const x = Tensor.from(randomArray(M * K, r, 3), [M, K]);
      const xq = Tensor.empty('int8', [M, paddedK(K)]), params = Tensor.empty('float32', [M, 2]);
      await wasm.run('quantizeRows', { xq, params, x }, { rows: M, K });
      const refQ = new Int8Array(M * paddedK(K)), refP = new Float32Array(2 * M);
      quantizeRows(refQ, refP, x.data, { rows: M, K });
      expect(Array.from(xq.data)).toEqual(Array.from(refQ));
      expect(Array.from(params.data)).toEqual(Array.from(refP));
      expect(Math.min(...xq.data)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...xq.data)).toBeLessThanOrEqual(127);
    });
  }

  // a scale per output channel (encoders), per 32 inputs (decoders), and per 12, whose last group is short
  for (const group of [undefined, Q8_DECODER_GROUP, 12]) {
    for (const [M, K, N] of SHAPES) {
      it(`linearQ8 ${M}x${K}x${N}, group ${group ?? 'row'}: relaxed and portable builds give identical bits, equal to the reference, close to float`, async () => {
        const xf = randomArray(M * K, r, 2), rows = randomArray(N * K, r), bias = Tensor.from(randomArray(N, r), [N]), residual = Tensor.from(randomArray(M * N, r), [M, N]);
        const x = Tensor.from(xf, [M, K]);
        const q = quantizeWeights(weightRows(rows, WeightType.float32, K, false), N, K, group);
        const { w, scales, offsets } = q8Tensors(q);
        const xq = Tensor.empty('int8', [M, paddedK(K)]), params = Tensor.empty('float32', [M, 2]);
        await wasm.run('quantizeRows', { xq, params, x }, { rows: M, K });
        for (const [activation, withResidual] of [[Activation.none, false], [Activation.none, true], [Activation.relu, true], [Activation.gelu, true]] as const) {
          const res = withResidual ? residual : undefined;
          const outs = Object.values(builds).map((k) => {
            const out = Tensor.empty('float32', [M, N]);
            k.linearQ8(out.byteOffset, xq.byteOffset, params.byteOffset, w.byteOffset, scales.byteOffset, offsets.byteOffset, bias.byteOffset, 0, res?.byteOffset ?? 0, K, q.group, N, activation, 0, M, 0, N);
            return out.data.slice();
          });
          // integer dot products are exact; the float steps after them differ only where the relaxed build fuses a
          // multiply-add inside an activation (GELU's polynomial)
          if (activation === Activation.gelu) expect(Math.max(...outs[0].map((v, i) => Math.abs(v - outs[1][i]) / Math.max(1, Math.abs(v))))).toBeLessThan(1e-6);
          else expect(bits(outs[0])).toEqual(bits(outs[1]));
          const ref = new Float32Array(M * N);
          linearQ8(ref, xq.data, params.data, q, bias.data, undefined, res?.data, { M, K, N, activation, group: q.group });
          if (activation === Activation.none && !withResidual) expect(bits(ref)).toEqual(bits(outs[0]));
          else expect(Math.max(...ref.map((v, i) => Math.abs(v - outs[0][i])))).toBeLessThan(1e-5);
          // against the float GEMM: 8-bit weights and 7-bit activations keep the error a small share of the output's scale
          const float = new Float32Array(M * N);
          linearReference(float, xf, rows, bias.data, undefined, res?.data, { M, K, N, activation });
          const scale = Math.max(...float.map(Math.abs));
          expect(Math.max(...float.map((v, i) => Math.abs(v - ref[i]))) / scale).toBeLessThan(0.05);
        }
      });
    }
  }

  for (const group of [undefined, Q8_DECODER_GROUP, 12]) {
    for (const [M, K, N] of SHAPES) {
      it(`linearQ8Float ${M}x${K}x${N}, group ${group ?? 'row'}: float rows against q8 weights, identical bits in both builds and the reference, close to float`, () => {
        const xf = randomArray(M * K, r, 2), rows = randomArray(N * K, r), bias = Tensor.from(randomArray(N, r), [N]), residual = Tensor.from(randomArray(M * N, r), [M, N]);
        const x = Tensor.from(xf, [M, K]);
        const q = quantizeWeights(weightRows(rows, WeightType.float32, K, false), N, K, group);
        const { w, scales } = q8Tensors(q);
        for (const [activation, withResidual] of [[Activation.none, false], [Activation.relu, true], [Activation.silu, false]] as const) {
          const res = withResidual ? residual : undefined;
          const outs = Object.values(builds).map((k) => {
            const out = Tensor.empty('float32', [M, N]);
            k.linearQ8Float(out.byteOffset, x.byteOffset, w.byteOffset, scales.byteOffset, bias.byteOffset, 0, res?.byteOffset ?? 0, K, q.group, N, K, activation, 0, M, 0, N);
            return out.data.slice();
          });
          const ref = new Float32Array(M * N);
          linearQ8FloatReference(ref, xf, q, bias.data, undefined, res?.data, { M, K, N, activation, group: q.group });
          if (activation === Activation.silu) expect(Math.max(...outs[0].map((v, i) => Math.abs(v - outs[1][i]) / Math.max(1, Math.abs(v))))).toBeLessThan(1e-6);
          else expect(bits(outs[0])).toEqual(bits(outs[1]));
          if (activation === Activation.none) expect(bits(ref)).toEqual(bits(outs[0]));
          else expect(Math.max(...ref.map((v, i) => Math.abs(v - outs[0][i]) / Math.max(1, Math.abs(v))))).toBeLessThan(1e-6);
          // 8-bit weights, float activations: closer to the float GEMM than linearQ8
          const float = new Float32Array(M * N);
          linearReference(float, xf, rows, bias.data, undefined, res?.data, { M, K, N, activation });
          const scale = Math.max(...float.map(Math.abs));
          expect(Math.max(...float.map((v, i) => Math.abs(v - ref[i]))) / scale).toBeLessThan(0.03);
        }
      });
    }
  }

  it('groups of inputs: packing and unpacking keep every weight and scale; the scales follow each group\'s range', () => {
    const N = 11, K = 70, rows = randomArray(N * K, r);
    rows[3 * K + 40] = 50; // one large weight: only its group's scale grows
    const q = quantizeRowsQ8(weightRows(rows, WeightType.float32, K, false), N, K, Q8_DECODER_GROUP);
    const back = unpackQ8(packQ8(q, N, K), N, K);
    for (const key of ['rows', 'scales'] as const) expect(Array.from(back[key])).toEqual(Array.from(q[key]));
    const groups = q8Groups(K, Q8_DECODER_GROUP);
    expect(q.scales.length).toBe(N * groups);
    expect(q.scales[3 * groups + 1]).toBeCloseTo(50 / 127, 6);
    expect(q.scales[3 * groups]).toBeLessThan(1 / 127 + 1e-6);
  });

  it('pooled threads (rows or column blocks) give the inline kernel\'s bits', async () => {
    for (const [M, K, N] of [[3, 37, 130], [70, 96, 24]] as const) {
      const x = Tensor.from(randomArray(M * K, r, 2), [M, K]), rows = randomArray(N * K, r);
      const q = quantizeWeights(weightRows(rows, WeightType.float32, K, false), N, K, Q8_DECODER_GROUP);
      const { w, scales, offsets } = q8Tensors(q);
      const outs: Float32Array[] = [];
      for (const engine of [wasm, pooled]) {
        const xq = Tensor.empty('int8', [M, paddedK(K)]), params = Tensor.empty('float32', [M, 2]), out = Tensor.empty('float32', [M, N]);
        await engine.run('quantizeRows', { xq, params, x }, { rows: M, K });
        await engine.run('linearQ8', { out, xq, params, w, scales, offsets }, { M, K, N, group: q.group });
        outs.push(out.data.slice());
        await engine.run('linearQ8Float', { out, x, w, scales }, { M, K, N, group: q.group });
        outs.push(out.data.slice());
      }
      expect(bits(outs[2])).toEqual(bits(outs[0]));
      expect(bits(outs[3])).toEqual(bits(outs[1]));
    }
  });

  it('quantizes half-precision and packed weights as it reads them', () => {
    const N = 9, K = 13, rows = randomArray(N * K, r);
    const direct = quantizeWeights(weightRows(rows, WeightType.float32, K, false), N, K);
    const fromPanels = quantizeWeights(weightRows(packPanels(rows, N, K), WeightType.float32, K, true), N, K);
    expect(Array.from(fromPanels.values)).toEqual(Array.from(direct.values));
    expect(Array.from(fromPanels.scales)).toEqual(Array.from(direct.scales));
  });
});

describe('q4 kernel: 4-bit weights widened in registers', () => {
  for (const [M, K, N] of SHAPES) {
    it(`linearQ4 ${M}x${K}x${N}: relaxed and portable builds give identical bits, the reference's bits, close to float`, async () => {
      const xf = randomArray(M * K, r, 2), rows = randomArray(N * K, r), bias = Tensor.from(randomArray(N, r), [N]), residual = Tensor.from(randomArray(M * N, r), [M, N]);
      const x = Tensor.from(xf, [M, K]);
      const q = packQ4(quantizeRowsQ4(weightRows(rows, WeightType.float32, K, false), N, K), N, K);
      const { w, scales } = q4Tensors(q);
      for (const [activation, withResidual] of [[Activation.none, false], [Activation.none, true], [Activation.relu, true], [Activation.silu, false], [Activation.gelu, true]] as const) {
        const outs = Object.values(builds).map((k) => {
          const out = Tensor.empty('float32', [M, N]);
          k.linearQ4(out.byteOffset, x.byteOffset, w.byteOffset, scales.byteOffset, bias.byteOffset, 0, withResidual ? residual.byteOffset : 0, K, N, K, activation, 0, M, 0, N);
          return out.data.slice();
        });
        // only an activation's polynomial differs between the builds (fused there); the weights' products never are
        if (activation === Activation.gelu || activation === Activation.silu) expect(Math.max(...outs[0].map((v, i) => Math.abs(v - outs[1][i])))).toBeLessThan(1e-5);
        else expect(bits(outs[0])).toEqual(bits(outs[1]));
        const ref = new Float32Array(M * N);
        linearQ4(ref, xf, q, bias.data, undefined, withResidual ? residual.data : undefined, { M, K, N, activation });
        // the reference rounds each step as the kernel does: the same bits where the epilogue is a single addition
        if (activation === Activation.none && !withResidual) expect(bits(ref)).toEqual(bits(outs[0]));
        else expect(Math.max(...ref.map((v, i) => Math.abs(v - outs[0][i])))).toBeLessThan(1e-5);
        const float = new Float32Array(M * N);
        linearReference(float, xf, rows, bias.data, undefined, withResidual ? residual.data : undefined, { M, K, N, activation });
        const scale = Math.max(...float.map(Math.abs));
        expect(Math.max(...float.map((v, i) => Math.abs(v - ref[i]))) / scale).toBeLessThan(0.2);
      }
    });
  }

  it('pooled threads give the inline kernel\'s bits; panels unpack to the quantized rows', async () => {
    for (const [M, K, N] of [[1, 100, 130], [70, 96, 24]] as const) {
      const x = Tensor.from(randomArray(M * K, r, 2), [M, K]), rows = randomArray(N * K, r);
      const qr = quantizeRowsQ4(weightRows(rows, WeightType.float32, K, false), N, K);
      const q = packQ4(qr, N, K);
      expect(Array.from(unpackQ4(q, N, K).rows)).toEqual(Array.from(qr.rows));
      const { w, scales } = q4Tensors(q);
      const outs: Float32Array[] = [];
      for (const engine of [wasm, pooled]) {
        const out = Tensor.empty('float32', [M, N]);
        await engine.run('linearQ4', { out, x, w, scales }, { M, K, N });
        outs.push(out.data.slice());
      }
      expect(bits(outs[1])).toEqual(bits(outs[0]));
    }
  });
});

const cosine = cosineSimilarity;

/** Every encoder fixture (architectures/ and the BERT family) with the texts it was made with. */
const encoderFixtures = [
  ...readdirSync(fixture('architectures')).filter((d) => statSync(fixture('architectures', d)).isDirectory()).map((d) => `architectures/${d}`),
  'bert', 'bert-seqcls', 'bert-tokcls', 'bert-qa', 'bert-mlm',
].filter((d) => !('sources' in readJson(d, 'expected.json')));

describe('q8 models: embeddings stay within cosine 0.99 of fp32 on every fixture text (worst case)', () => {
  for (const name of encoderFixtures) {
    it(name, async () => {
      const { texts } = readJson<{ texts: string[] }>(name, 'expected.json');
      const models = (['fp32', 'q8'] as const).map((dtype): LoadedModel => loadModel(fixture(name), pooled, { dtype }));
      try {
        const [a, b] = await Promise.all(models.map((m) => embed(m, texts)));
        const worst = Math.min(...a.map((v, i) => cosine(v, b[i])));
        expect(worst).toBeGreaterThanOrEqual(0.99);
      } finally {
        for (const m of models) m.model.dispose();
      }
    });
  }
});

/** Logits of one text, and greedy tokens after it, as `dtype`. */
async function decoderRun(dir: string, dtype: 'fp32' | 'q8' | 'q4', text: string, maxNewTokens: number) {
  const m = loadModel(dir, pooled, { dtype });
  try {
    if (m.kind !== 'causal') throw new Error(`${dir}: expected a causal LM`);
    const ids = m.tokenizer.encode(text).ids;
    const { logits } = await m.model.forward({ batch: 1, length: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1) });
    const [generated] = await m.model.generate([ids], { maxNewTokens, minNewTokens: maxNewTokens, doSample: false, numBeams: 1 });
    return { logits, generated };
  } finally {
    m.model.dispose();
  }
}

describe('quantized decoders end to end: every decoders/ fixture loads in q8 (groups of 32) and q4, generates, and keeps its logits near fp32', () => {
  for (const name of readdirSync(fixture('decoders')).filter((d) => statSync(fixture('decoders', d)).isDirectory())) {
    it(name, async () => {
      const exp = readJson<{ texts: string[]; generation: { max_new_tokens: number } }>('decoders', name, 'expected.json');
      const n = exp.generation.max_new_tokens;
      const [a, q8, q4] = await Promise.all((['fp32', 'q8', 'q4'] as const).map((d) => decoderRun(fixture('decoders', name), d, exp.texts[0], n)));
      for (const run of [q8, q4]) expect(run.generated.length).toBe(n);
      // random tiny models: the logits keep their direction (measured 0.93–0.98 in 4 bits on these fixtures)
      expect(cosine(a.logits, q8.logits)).toBeGreaterThanOrEqual(0.99);
      expect(cosine(a.logits, q4.logits)).toBeGreaterThanOrEqual(0.9);
    });
  }
});

describe('tied LM heads', () => {
  it('load quantized beside the float embedding table, which the embedding keeps reading', () => {
    for (const [load, dir] of [[Gpt2Model.load, fixture('gpt2')], [LlamaModel.load, fixture('decoders', 'qwen2')]] as const) {
      for (const dtype of ['q8', 'q4'] as const) {
        const model = load(dir, pooled, undefined, { dtype });
        try {
          // 8 bits in both; float activations under a 4-bit body (lmHeadQuantization)
          expect(isQuantized(model.lmHead.weight), `${dir} ${dtype}`).toBe(true);
          expect(model.lmHead.weight).toMatchObject({ format: 'q8', group: Q8_DECODER_GROUP, floatRows: dtype === 'q4' ? Number.MAX_SAFE_INTEGER : 0 });
        } finally {
          model.dispose();
        }
      }
    }
  });
});

describe('memory estimates count quantized weights', () => {
  it('a model that fits nowhere is refused in every dtype, and the message offers 4 bits only when it is not already 4 bits', () => {
    const dir = fixture('decoders', 'llama');
    for (const dtype of ['fp32', 'q8', 'q4'] as const) {
      const arena = new SharedArena({ maximumBytes: 1 << 16 });
      const engine = new Engine({ workers: 0, arena });
      const fail = () => loadModel(dir, engine, { dtype });
      expect(fail).toThrow(/needs about [\d.]+ GiB/);
      if (dtype === 'q4') expect(fail).not.toThrow(/--dtype q4/);
      else expect(fail).toThrow(/--dtype q4/);
    }
  });
});
