import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTokens } from '@attnflow/decoder';
import { Engine } from '@attnflow/kernels';
import { ConfigReader, LlamaModel } from '@attnflow/models';
import { arg, table } from './common.js';

/** Qwen2.5-0.5B's shape (hidden 896, 14 heads / 2 KV heads, FFN 4864, vocabulary 151,936, tied, BF16). */
const SHAPE = { hidden: 896, layers: 24, heads: 14, kvHeads: 2, ffn: 4864, vocab: 151_936 };

/**
 * Writes a random BF16 checkpoint of that shape tensor by tensor (never the whole file in memory): the shape,
 * not the values, decides the speed. Returns the directory and the weight bytes.
 */
function syntheticQwen2(layers: number): { dir: string; bytes: number } {
  const { hidden: H, heads, kvHeads, ffn: I, vocab: V } = SHAPE;
  const hd = H / heads;
  const dir = mkdtempSync(join(tmpdir(), 'attnflow-qwen2-'));
  const tensors: [string, number[], 'BF16' | 'F32'][] = [['model.embed_tokens.weight', [V, H], 'BF16'], ['model.norm.weight', [H], 'F32']];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      [`${p}.input_layernorm.weight`, [H], 'F32'], [`${p}.post_attention_layernorm.weight`, [H], 'F32'],
      [`${p}.self_attn.q_proj.weight`, [heads * hd, H], 'BF16'], [`${p}.self_attn.q_proj.bias`, [heads * hd], 'F32'],
      [`${p}.self_attn.k_proj.weight`, [kvHeads * hd, H], 'BF16'], [`${p}.self_attn.k_proj.bias`, [kvHeads * hd], 'F32'],
      [`${p}.self_attn.v_proj.weight`, [kvHeads * hd, H], 'BF16'], [`${p}.self_attn.v_proj.bias`, [kvHeads * hd], 'F32'],
      [`${p}.self_attn.o_proj.weight`, [H, heads * hd], 'BF16'],
      [`${p}.mlp.gate_proj.weight`, [I, H], 'BF16'], [`${p}.mlp.up_proj.weight`, [I, H], 'BF16'], [`${p}.mlp.down_proj.weight`, [H, I], 'BF16'],
    );
  }
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape, dtype] of tensors) {
    const size = shape.reduce((a, d) => a * d, 1) * (dtype === 'BF16' ? 2 : 4);
    header[name] = { dtype, shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, length);
  writeSync(fd, json);
  let s = 1;
  const random = () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.04;
  const word = new Float32Array(1), bits = new Uint32Array(word.buffer);
  for (const [, shape, dtype] of tensors) {
    const n = shape.reduce((a, d) => a * d, 1);
    if (dtype === 'F32') {
      writeSync(fd, new Uint8Array(new Float32Array(n).fill(1).buffer));
      continue;
    }
    // a random row of 64 Ki values repeated: writing a gigabyte of fresh random numbers would dominate the run
    const chunk = new Uint16Array(Math.min(n, 65536)).map(() => ((word[0] = random()), bits[0] >>> 16));
    for (let at = 0; at < n; at += chunk.length) writeSync(fd, chunk.subarray(0, Math.min(chunk.length, n - at)));
  }
  closeSync(fd);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: H, num_hidden_layers: layers, num_attention_heads: heads,
    num_key_value_heads: kvHeads, intermediate_size: I, vocab_size: V, max_position_embeddings: 32768, rms_norm_eps: 1e-6,
    rope_theta: 1_000_000, tie_word_embeddings: true, hidden_act: 'silu', use_sliding_window: false, bos_token_id: 151643, eos_token_id: 151645,
  }));
  let bytes = 0;
  for (const [, shape, dtype] of tensors) if (dtype === 'BF16') bytes += 2 * shape.reduce((a, d) => a * d, 1);
  return { dir, bytes };
}

/** Sequential read bandwidth of this machine, bytes/s: a JavaScript sum over 256 MiB (one thread). */
function readBandwidth(): number {
  const data = new Float64Array(32 * 1024 * 1024).fill(1);
  let best = 0;
  for (let run = 0; run < 3; run++) {
    const t = performance.now();
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2] + data[i + 3];
    const s = (performance.now() - t) / 1000;
    if (sum !== data.length) throw new Error('read loop');
    best = Math.max(best, data.byteLength / s);
  }
  return best;
}

const prompt = (n: number) => Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % 150_000));

/**
 * Qwen2.5-0.5B-shaped BF16 decoding: load time and memory, prefill tokens/s for a 512-token prompt, decode
 * tokens/s at 16 and 1,024 tokens of context with 1 and 2 workers, and decode as a share of the limit that
 * reading every weight once per token sets (read bandwidth ÷ weight bytes).
 * `--llm-layers N` shrinks the depth for a quick run.
 */
export async function llmBench(): Promise<string> {
  const layers = Number(arg('llm-layers') ?? SHAPE.layers);
  const { dir, bytes } = syntheticQwen2(layers);
  const bandwidth = readBandwidth();
  const limit = bandwidth / bytes;
  const rows: (string | number)[][] = [['workers', 'load s', 'RSS +MB', 'prefill 512 tok/s', 'decode @16 tok/s', 'decode @1024 tok/s', '@16 share of limit']];
  const newTokens = 16;
  for (const workers of [1, 2]) {
    const rss = process.memoryUsage().rss;
    const engine = new Engine({ workers });
    const t0 = performance.now();
    const model = LlamaModel.load(dir, engine, ConfigReader.read(dir));
    const loadS = (performance.now() - t0) / 1000;
    const rssMb = (process.memoryUsage().rss - rss) / 2 ** 20;
    const p512 = prompt(512);
    const t1 = performance.now();
    (await model.start([p512], { maxNewTokens: 1, padTokenId: 0 })).session.dispose();
    const prefill = 512 / ((performance.now() - t1) / 1000);
    const decode: number[] = [];
    for (const context of [16, 1024]) {
      const p = prompt(context);
      const { session, logits } = await model.start([p], { maxNewTokens: newTokens, padTokenId: 0 });
      let t = 0, count = 0;
      await generateTokens(session, logits, [p], { maxNewTokens: newTokens, padTokenId: 0 }, { onToken: () => { if (count++ === 0) t = performance.now(); } });
      decode.push(((count - 1) * 1000) / (performance.now() - t));
      session.dispose();
    }
    rows.push([workers, loadS, rssMb, prefill, decode[0], decode[1], `${((100 * decode[0]) / limit).toFixed(0)} %`]);
    model.dispose();
    await engine.close();
  }
  rmSync(dir, { recursive: true, force: true });
  return `${table(rows)}\n(Qwen2.5-0.5B shape, ${layers} layers, random BF16 weights: ${(bytes / 1e9).toFixed(2)} GB of weights kept as BF16; read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s ` +
    `(JavaScript read loop, one thread) → a limit of ${limit.toFixed(1)} tokens/s; greedy, ${newTokens} new tokens. Peers (llama.cpp, wllama) are not run here.)`;
}
