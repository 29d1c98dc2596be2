import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatTemplate } from '@attnflow/tokenizer';
import { ConfigReader, LlamaModel, loadModel } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { tempDir } from './helpers/cli.js';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());

/** test/fixtures/decoders-rope: the llama fixture's weights under linear, dynamic and yarn RoPE (tools/make_rope_references.py). */
const CASES = readdirSync(fixture('decoders-rope'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

describe.each(CASES)('RoPE %s against transformers', (name) => {
  const dir = fixture('decoders-rope', name);
  const exp = readJson('decoders-rope', name, 'expected.json');
  const ref = readExpected('decoders-rope', name, 'expected.safetensors');
  const model = LlamaModel.load(dir, engine, ConfigReader.read(dir));
  const V = model.recipe.vocabSize;

  it('logits of every prompt, and of cached steps after prompt0', async () => {
    const prompts = exp.prompts as number[][];
    for (let j = 0; j < prompts.length; j++) {
      const ids = prompts[j];
      const { logits } = await model.forward({ batch: 1, length: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1) });
      expectClose(logits, ref.get(`prompt${j}.logits`)!.data, 1e-4, `prompt${j}`);
    }
    const steps = exp.cached_step_ids as number[];
    const { session } = await model.start([prompts[0]], { maxNewTokens: steps.length, padTokenId: 0 });
    const expected = ref.get('prompt0.cached_step_logits')!.data;
    for (let s = 0; s < steps.length; s++) expectClose(await session.step(Int32Array.of(steps[s]), 1), expected.subarray(s * V, (s + 1) * V), 1e-4, `step ${s}`);
    session.dispose();
  });
});

/** A copy of a fixture folder with config.json (or another file) changed. */
function variant(name: string, change: (config: Record<string, unknown>) => void, file = 'config.json'): string {
  const dir = join(tempDir(), name);
  cpSync(fixture('decoders', name), dir, { recursive: true });
  const config = readJson('decoders', name, file);
  change(config);
  writeFileSync(join(dir, file), JSON.stringify(config));
  return dir;
}

describe('bad input names the field', () => {
  it('an unsupported rope type', () => {
    const dir = variant('llama', (c) => (c.rope_parameters = { rope_type: 'longrope', rope_theta: 10000 }));
    expect(() => loadModel(dir, engine)).toThrow(/rope_parameters\.rope_type" is "longrope"; supported RoPE types: default, linear, dynamic, llama3, yarn/);
    const hub = variant('llama', (c) => {
      delete c.rope_parameters;
      c.rope_scaling = { type: 'su', factor: 2 };
    });
    expect(() => loadModel(hub, engine)).toThrow(/rope_scaling\.type" is "su"/);
  });

  it('a rope kind without its parameters', () => {
    const dir = variant('llama', (c) => (c.rope_parameters = { rope_type: 'linear', rope_theta: 10000 }));
    expect(() => loadModel(dir, engine)).toThrow(/rope_parameters\.factor" is missing/);
  });

  it('a config that does not match the weights', () => {
    const dir = variant('qwen2', (c) => (c.intermediate_size = (c.intermediate_size as number) + 8));
    expect(() => loadModel(dir, engine)).toThrow(/mlp\.gate_proj\.weight" has shape \[\d+, \d+\], the config implies \[\d+, \d+\]/);
    const heads = variant('llama', (c) => (c.num_key_value_heads = 3));
    expect(() => loadModel(heads, engine)).toThrow(/num_attention_heads \(\d+\) is not a multiple of num_key_value_heads \(3\)/);
  });

  it('a chat template that fails to render', () => {
    const dir = variant('qwen2', (c) => (c.chat_template = '{{ raise_exception("only user turns") }}'), 'tokenizer_config.json');
    expect(() => ChatTemplate.fromDirectory(dir)!.render([{ role: 'user', content: 'hi' }])).toThrow(/tokenizer_config\.json field "chat_template": the chat template failed to render: .*only user turns/);
    const broken = variant('qwen2', (c) => (c.chat_template = '{% for m in messages %}'), 'tokenizer_config.json');
    expect(() => ChatTemplate.fromDirectory(broken)!.render([{ role: 'user', content: 'hi' }])).toThrow(/chat_template/);
  });

  it('a model too large for WebAssembly memory is refused before loading', () => {
    const dir = variant('llama', (c) => {
      c.max_position_embeddings = 1_000_000;
      c.num_hidden_layers = 2;
      c.num_key_value_heads = 4;
      c.head_dim = 100_000;
    });
    expect(() => loadModel(dir, engine)).toThrow(/needs about [\d.]+ GiB .* WebAssembly memory has [\d.]+ GiB left/);
  });
});
