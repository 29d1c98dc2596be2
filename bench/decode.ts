import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '@attnflow/checkpoint';
import { generateTokens } from '@attnflow/decoder';
import { Engine } from '@attnflow/kernels';
import { Gpt2Model } from '@attnflow/models';
import { table } from './common.js';

/** A GPT-2-shaped checkpoint with random weights (the shape, not the words, decides the speed). */
function syntheticGpt2(embd: number, layers: number, heads: number, positions: number, vocab: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'attnflow-gpt2-'));
  let s = 1;
  const rand = (n: number, scale = 0.02) => Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 2 * scale);
  const t: Record<string, { shape: number[]; data: Float32Array }> = {
    'transformer.wte.weight': { shape: [vocab, embd], data: rand(vocab * embd) },
    'transformer.wpe.weight': { shape: [positions, embd], data: rand(positions * embd) },
    'transformer.ln_f.weight': { shape: [embd], data: new Float32Array(embd).fill(1) },
    'transformer.ln_f.bias': { shape: [embd], data: new Float32Array(embd) },
  };
  for (let l = 0; l < layers; l++) {
    const p = `transformer.h.${l}`;
    Object.assign(t, {
      [`${p}.ln_1.weight`]: { shape: [embd], data: new Float32Array(embd).fill(1) }, [`${p}.ln_1.bias`]: { shape: [embd], data: new Float32Array(embd) },
      [`${p}.ln_2.weight`]: { shape: [embd], data: new Float32Array(embd).fill(1) }, [`${p}.ln_2.bias`]: { shape: [embd], data: new Float32Array(embd) },
      [`${p}.attn.c_attn.weight`]: { shape: [embd, 3 * embd], data: rand(3 * embd * embd) }, [`${p}.attn.c_attn.bias`]: { shape: [3 * embd], data: new Float32Array(3 * embd) },
      [`${p}.attn.c_proj.weight`]: { shape: [embd, embd], data: rand(embd * embd) }, [`${p}.attn.c_proj.bias`]: { shape: [embd], data: new Float32Array(embd) },
      [`${p}.mlp.c_fc.weight`]: { shape: [embd, 4 * embd], data: rand(4 * embd * embd) }, [`${p}.mlp.c_fc.bias`]: { shape: [4 * embd], data: new Float32Array(4 * embd) },
      [`${p}.mlp.c_proj.weight`]: { shape: [4 * embd, embd], data: rand(4 * embd * embd) }, [`${p}.mlp.c_proj.bias`]: { shape: [embd], data: new Float32Array(embd) },
    });
  }
  writeSafetensors(join(dir, 'model.safetensors'), t);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: embd, n_layer: layers, n_head: heads, n_positions: positions, vocab_size: vocab, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, eos_token_id: 0 }));
  return dir;
}

/** Decode speed with the key/value cache: time to first token and tokens/s at short and long context. */
export async function decodeBench(): Promise<string> {
  const embd = 512, layers = 6, heads = 8;
  const dir = syntheticGpt2(embd, layers, heads, 1024, 8192);
  const rows: (string | number)[][] = [['context', 'workers', 'time to first token (ms)', 'decode tokens/s', 'ms/token']];
  for (const workers of [1, 2]) {
    const engine = new Engine({ workers });
    const model = Gpt2Model.load(dir, engine);
    // Warm-up: a prompt long enough that calls go to the pool threads too, so their start-up (module loading,
    // kernel instantiation) is not counted as time to first token.
    const warmPrompt = Array.from({ length: 64 }, (_, i) => 1 + i);
    const warm = await model.start([warmPrompt], { maxNewTokens: 4, padTokenId: 0 });
    await generateTokens(warm.session, warm.logits, [warmPrompt], { maxNewTokens: 4, padTokenId: 0 });
    warm.session.dispose();
    for (const context of [16, 512]) {
      const prompt = Array.from({ length: context }, (_, i) => 1 + ((i * 7919) % 8000));
      const newTokens = 64;
      const t0 = performance.now();
      const { session, logits } = await model.start([prompt], { maxNewTokens: newTokens, padTokenId: 0 });
      let first = 0;
      let count = 0;
      let t1 = 0;
      await generateTokens(session, logits, [prompt], { maxNewTokens: newTokens, padTokenId: 0 }, {
        onToken: () => {
          if (count++ === 0) {
            first = performance.now() - t0;
            t1 = performance.now();
          }
        },
      });
      const decodeMs = performance.now() - t1;
      session.dispose();
      rows.push([context, workers, first, ((count - 1) * 1000) / decodeMs, decodeMs / (count - 1)]);
    }
    model.dispose();
    await engine.close();
  }
  return `${table(rows)}\n(GPT-2-shaped: n_embd ${embd}, ${layers} layers, ${heads} heads, vocabulary 8192, random weights; 64 new tokens, greedy; flat ms/token from 16 to 512 context shows the cache at work)`;
}
