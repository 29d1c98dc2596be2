import { afterAll, describe, expect, it } from 'vitest';
import { SelfAttentionModule } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());

describe('the tutorial\'s SelfAttention module (docs/self-attention.md; fixture seed-selfattention)', () => {
  const exp = readJson('seed-selfattention', 'expected.json');
  const ref = readExpected('seed-selfattention', 'expected.safetensors');
  const m = SelfAttentionModule.load(fixture('seed-selfattention', 'weights.safetensors'), { embedSize: exp.embed_size, heads: exp.heads }, engine);
  const N = exp.batch_size, L = exp.seq_len;
  const x = ref.get('x')!.data;

  const cases: [string, () => Promise<{ output: Float32Array; attention: Float32Array }>][] = [
    ['no_mask', () => m.forward(ref.get('values')!.data, ref.get('keys')!.data, ref.get('query')!.data, N, L, L)],
    ['self', () => m.forward(x, x, x, N, L, L)],
    ['padding', () => m.forward(x, x, x, N, L, L, { padding: Int32Array.from(exp.padding_mask.flat()) })],
    ['causal', () => m.forward(x, x, x, N, L, L, { causal: true })],
  ];
  it.each(cases)('%s: output (3, 5, 10) and attention within 1e-5, through the worker pool', async (name, run) => {
    const tasksBefore = engine.stats.tasks;
    const { output, attention } = await run();
    expect(output.length).toBe(3 * 5 * 10);
    expectClose(output, ref.get(`${name}.output`)!.data, 1e-5, `${name}.output`);
    expectClose(attention, ref.get(`${name}.attention`)!.data, 1e-5, `${name}.attention`);
    expect(engine.stats.tasks).toBeGreaterThan(tasksBefore);
  });

  it('refuses an embed size not divisible by the number of heads', () => {
    expect(() => SelfAttentionModule.load(fixture('seed-selfattention', 'weights.safetensors'), { embedSize: 10, heads: 3 }, engine)).toThrow(/embed size \(10\) must be divisible by the number of heads \(3\)/);
  });
});
