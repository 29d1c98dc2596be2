import { afterAll, describe, expect, it } from 'vitest';
import { Gpt2Model } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { Tokenizer } from '@attnflow/tokenizer';
import { generateTokens, samplingDistribution, sample, seededRandom, IncrementalDecoder } from '@attnflow/decoder';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());

describe('gpt2 parity with transformers', () => {
  const exp = readJson('gpt2', 'expected.json');
  const ref = readExpected('gpt2', 'expected.safetensors');
  const model = Gpt2Model.load(fixture('gpt2'), engine);
  const tok = Tokenizer.fromDirectory(fixture('gpt2'));

  it('tokenizes the prompts identically', () => {
    exp.prompts.forEach((p: string, j: number) => expect(tok.encode(p).ids).toEqual(exp[`prompt${j}.input_ids`]));
  });

  it('per-prompt logits and the left-padded batch logits (position ids from the mask)', async () => {
    for (let j = 0; j < exp.prompts.length; j++) {
      const ids = exp[`prompt${j}.input_ids`] as number[];
      const { logits } = await model.forward({ batch: 1, length: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1) });
      expectClose(logits, ref.get(`prompt${j}.logits`)!.data, 1e-4, `prompt${j}`);
    }
    const b = exp.batch_input_ids as number[][];
    const { logits } = await model.forward({ batch: b.length, length: b[0].length, inputIds: Int32Array.from(b.flat()), attentionMask: Int32Array.from((exp.batch_attention_mask as number[][]).flat()) });
    expectClose(logits, ref.get('batch.logits')!.data, 1e-4, 'batch');
  });

  it('greedy ids for single prompts and for the padded batch', async () => {
    const prompts = exp.prompts.map((_: string, j: number) => exp[`prompt${j}.input_ids`] as number[]);
    for (let j = 0; j < prompts.length; j++) {
      const { session, logits } = await model.start([prompts[j]], { maxNewTokens: 16, padTokenId: 0 });
      const [gen] = await generateTokens(session, logits, [prompts[j]], { maxNewTokens: 16, eosTokenId: 0, padTokenId: 0 });
      session.dispose();
      expect([...prompts[j], ...gen]).toEqual(exp[`prompt${j}.greedy_ids`]);
      expect(tok.decode(gen)).toEqual(exp[`prompt${j}.greedy_text`]);
    }
    const { session, logits } = await model.start(prompts, { maxNewTokens: 16, padTokenId: 0 });
    const gens = await generateTokens(session, logits, prompts, { maxNewTokens: 16, eosTokenId: 0, padTokenId: 0 });
    session.dispose();
    const batch = exp['batch.greedy_ids'] as number[][];
    gens.forEach((g, j) => expect(g).toEqual(batch[j].slice(12)));
  });

  it('cached decoding equals a full re-forward at every step', async () => {
    const prompt = exp['prompt1.input_ids'] as number[];
    const { session, logits: first } = await model.start([prompt], { maxNewTokens: 8, padTokenId: 0 });
    let logits = first;
    const seq = [...prompt];
    const V = model.recipe.vocabSize;
    for (let step = 0; step < 8; step++) {
      const { logits: full } = await model.forward({ batch: 1, length: seq.length, inputIds: Int32Array.from(seq), attentionMask: new Int32Array(seq.length).fill(1) });
      expectClose(logits, full.subarray((seq.length - 1) * V), 1e-5, `step ${step}`);
      const next = (step * 37 + 11) % V;
      seq.push(next);
      logits = await session.step(Int32Array.of(next), 1);
    }
    session.dispose();
  });
});

describe('sampling', () => {
  const logits = Float32Array.from([2, 1, 0.5, 0, -1, -3]);

  it('is reproducible with a seed', () => {
    const draw = (seed: number) => {
      const r = seededRandom(seed);
      return Array.from({ length: 50 }, () => sample(samplingDistribution(logits, { temperature: 1 }), r));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('top-k keeps k tokens, top-p the smallest set reaching p, temperature reshapes', () => {
    const k2 = samplingDistribution(logits, { topK: 2 });
    expect([...k2].filter((p) => p > 0).length).toBe(2);
    const full = samplingDistribution(logits, {});
    expect(full[0]).toBeCloseTo(Math.exp(2) / logits.reduce((a, x) => a + Math.exp(x), 0), 10);
    const p = samplingDistribution(logits, { topP: 0.8 });
    const kept = [...p].filter((x) => x > 0).length;
    expect(full[0] + full[1]).toBeLessThan(0.8);
    expect(full[0] + full[1] + full[2]).toBeGreaterThanOrEqual(0.8);
    expect(kept).toBe(3);
    const cold = samplingDistribution(logits, { temperature: 0.1 });
    expect(cold[0]).toBeGreaterThan(0.99);
    const hot = samplingDistribution(logits, { temperature: 100 });
    expect(hot[5]).toBeGreaterThan(0.15);
  });

  it('draws follow the distribution (chi-square on 20k draws)', () => {
    const dist = samplingDistribution(logits, { temperature: 1.5, topK: 4 });
    const r = seededRandom(123);
    const counts = new Array(6).fill(0);
    const N = 20000;
    for (let i = 0; i < N; i++) counts[sample(dist, r)]++;
    expect(counts[4]).toBe(0);
    expect(counts[5]).toBe(0);
    let chi = 0;
    for (let i = 0; i < 4; i++) chi += (counts[i] - N * dist[i]) ** 2 / (N * dist[i]);
    expect(chi).toBeLessThan(16.27); // p = 0.001 for 3 degrees of freedom
  });

  it('streams text without splitting a multi-byte character', () => {
    const tok = Tokenizer.fromDirectory(fixture('gpt2'));
    const ids = tok.encode('北京 Games').ids;
    const dec = new IncrementalDecoder((x) => tok.decode(x));
    const parts = ids.map((id) => dec.push(id));
    expect(parts.join('') + dec.flush()).toBe('北京 Games');
    expect(parts.every((p) => !p.includes('\ufffd'))).toBe(true);
  });
});
