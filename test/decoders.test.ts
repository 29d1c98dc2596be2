import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaModel, loadModel } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { floatWeight } from '@attnflow/layers';
import { Checkpoint } from '@attnflow/checkpoint';
import { SharedArena } from '@attnflow/tensor';
import { ChatTemplate } from '@attnflow/tokenizer';
import { expectClose, fixture, maxAbsDiff, readExpected, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());

/** Every folder of test/fixtures/decoders: sizes, texts, ids and options all come from its files. */
const FOLDERS = readdirSync(fixture('decoders'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

describe.each(FOLDERS)('decoders/%s parity with transformers', (name) => {
  const dir = fixture('decoders', name);
  const exp = readJson('decoders', name, 'expected.json');
  const ref = readExpected('decoders', name, 'expected.safetensors');
  const loaded = loadModel(dir, engine);
  if (loaded.kind !== 'causal' || !(loaded.model instanceof LlamaModel)) throw new Error(`${name}: expected a causal Llama-family model`);
  const model = loaded.model;
  const tok = loaded.tokenizer;
  const texts = exp.texts as string[];
  const prompts = texts.map((_, j) => exp[`prompt${j}.input_ids`] as number[]);
  const V = model.recipe.vocabSize;
  const eos = exp.generation.eos_token_ids as number[];
  const maxNewTokens = exp.generation.max_new_tokens as number;
  const greedy = { maxNewTokens, doSample: false, numBeams: 1 };

  it('keeps the weights in their stored precision (2 bytes a weight for bfloat16/float16)', () => {
    const stored = exp.weights_dtype_on_disk as string;
    const dtype = floatWeight(model.embedding, 'embedding').dtype;
    expect(dtype).toBe(stored === 'float16' ? 'float16' : stored === 'bfloat16' ? 'bfloat16' : 'float32');
    for (const layer of model.layers) expect(floatWeight(layer.attention.qkv, 'qkv').dtype).toBe(dtype);
    // the whole model takes about what its checkpoint stores (panel padding and float32 norms aside)
    const arena = new SharedArena();
    const alone = new Engine({ workers: 0, arena });
    let bytes = 0;
    for (const t of Checkpoint.open(dir).tensors.values()) bytes += (t.dtype === 'F32' ? 4 : 2) * t.shape.reduce((a, d) => a * d, 1);
    const copy = loadModel(dir, alone);
    expect(arena.allocatedBytes).toBeLessThan(1.15 * bytes + 65536);
    copy.model.dispose();
  });

  it('tokenizes the prompts and the tokenizer cases identically', () => {
    texts.forEach((t, j) => expect(tok.encode(t).ids, `prompt${j}`).toEqual(prompts[j]));
    for (const c of exp.tokenizer_cases as { text: string; ids: number[]; decoded: string; decoded_skip_special: string }[]) {
      expect(tok.encode(c.text).ids, JSON.stringify(c.text)).toEqual(c.ids);
      expect(tok.decode(c.ids, { skipSpecialTokens: false }), JSON.stringify(c.text)).toEqual(c.decoded);
      expect(tok.decode(c.ids, { skipSpecialTokens: true }), JSON.stringify(c.text)).toEqual(c.decoded_skip_special);
    }
  });

  it('logits of every prompt, and of the valid rows of the left-padded batch', async () => {
    for (let j = 0; j < prompts.length; j++) {
      const ids = prompts[j];
      const { logits } = await model.forward({ batch: 1, length: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1) });
      expectClose(logits, ref.get(`prompt${j}.logits`)!.data, 1e-4, `prompt${j}`);
    }
    const ids = exp.batch_input_ids as number[][];
    const mask = exp.batch_attention_mask as number[][];
    const L = ids[0].length;
    const { logits } = await model.forward({ batch: ids.length, length: L, inputIds: Int32Array.from(ids.flat()), attentionMask: Int32Array.from(mask.flat()) });
    const expected = ref.get('batch.logits')!.data;
    for (let b = 0; b < ids.length; b++) {
      for (let i = 0; i < L; i++) {
        if (!mask[b][i]) continue;
        const at = (b * L + i) * V;
        expect(maxAbsDiff(logits.subarray(at, at + V), expected.subarray(at, at + V)), `batch row ${b} position ${i}`).toBeLessThanOrEqual(1e-4);
      }
    }
  });

  it('greedy ids of every prompt and of the batch, stopping at any EOS id', async () => {
    expect([...eos].sort()).toEqual([[model.generationConfig.eosTokenId ?? []].flat()].flat().sort());
    for (let j = 0; j < prompts.length; j++) {
      const [gen] = await model.generate([prompts[j]], greedy);
      expect([...prompts[j], ...gen], `prompt${j}`).toEqual(exp[`prompt${j}.greedy_ids`]);
      expect(tok.decode(gen, { skipSpecialTokens: false }), `prompt${j}`).toEqual(exp[`prompt${j}.greedy_new_text`]);
    }
    const batch = exp['batch.greedy_ids'] as number[][];
    const pad = exp.batch_pad_token_id as number;
    const gens = await model.generate(prompts, { ...greedy, padTokenId: pad });
    const L = (exp.batch_input_ids as number[][])[0].length;
    gens.forEach((g, b) => expect(g, `batch row ${b}`).toEqual(batch[b].slice(L)));
  });

  it.runIf(exp.chat)('chat: the rendered template, its ids and the greedy answer', async () => {
    const chat = exp.chat as { messages: { role: string; content: string }[]; add_generation_prompt: boolean; text: string; input_ids: number[]; greedy_ids: number[] };
    const template = ChatTemplate.fromDirectory(dir)!;
    const text = template.render(chat.messages, { addGenerationPrompt: chat.add_generation_prompt });
    expect(text).toEqual(chat.text);
    const ids = tok.encode(text, undefined, { addSpecialTokens: false }).ids;
    expect(ids).toEqual(chat.input_ids);
    const [gen] = await model.generate([ids], greedy);
    expect([...ids, ...gen]).toEqual(chat.greedy_ids);
  });

  it('attention weights of every layer: rows sum to 1, nothing after the query, nothing outside a window', async () => {
    const ids = prompts[0];
    const L = ids.length;
    const { attentions } = await model.forward({ batch: 1, length: L, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(L).fill(1) }, { outputAttentions: true });
    expect(attentions).toHaveLength(model.recipe.numLayers);
    attentions!.forEach((probs, l) => {
      const window = model.recipe.windows[l] ?? Infinity;
      for (let h = 0; h < model.recipe.numHeads; h++) {
        for (let i = 0; i < L; i++) {
          const row = probs.subarray((h * L + i) * L, (h * L + i + 1) * L);
          expect(row.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 5);
          row.forEach((p, j) => { if (j > i || j <= i - window) expect(p, `layer ${l} head ${h} query ${i} key ${j}`).toBe(0); });
        }
      }
    });
  });

  it('cached steps equal the reference (and a full re-forward)', async () => {
    const prompt = prompts[0];
    const steps = exp.cached_step_ids as number[];
    const expected = ref.get('prompt0.cached_step_logits')!.data;
    const { session } = await model.start([prompt], { maxNewTokens: steps.length, padTokenId: 0 });
    const seq = [...prompt];
    for (let s = 0; s < steps.length; s++) {
      const logits = await session.step(Int32Array.of(steps[s]), 1);
      seq.push(steps[s]);
      expectClose(logits, expected.subarray(s * V, (s + 1) * V), 1e-4, `step ${s}`);
      const { logits: full } = await model.forward({ batch: 1, length: seq.length, inputIds: Int32Array.from(seq), attentionMask: new Int32Array(seq.length).fill(1) });
      expectClose(logits, full.subarray((seq.length - 1) * V), 1e-4, `step ${s} against a full forward`);
    }
    session.dispose();
  });
});
