/**
 * npx tsx gguf-check.ts [DIR]   (in bench/; DIR defaults to test/fixtures/decoders/qwen2)
 *
 * Checks the GGUF writer on a small qwen2 checkpoint before the bench trusts it with a big one: the checkpoint
 * written as GGUF (F32 and F16; Q8_0 is shown) and run in llama.cpp (node-llama-cpp) must tokenize the fixture's prompts to
 * its input ids and continue them greedily with its expected ids. Exit code 1 on any difference.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsHeader } from '@attnflow/checkpoint';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { ggufTensorName, gpt2TokenizerMetadata, qwen2Metadata, TOKEN_TYPE, writeGguf, type GgufTensor, type GgufTensorType } from './gguf.js';

const dir = process.argv[2] ?? fileURLToPath(new URL('../test/fixtures/decoders/qwen2/', import.meta.url));
const json = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
const config = json('config.json');
const expected = json('expected.json');
const tokenizerJson = json('tokenizer.json') as { model: { vocab: Record<string, number>; merges: (string | [string, string])[] }; added_tokens: { id: number; content: string; special: boolean }[] };
const tokenizerConfig = json('tokenizer_config.json');

const num = (key: string) => {
  const v = config[key];
  if (typeof v !== 'number') throw new Error(`${dir}/config.json: "${key}" is ${JSON.stringify(v)}, expected a number`);
  return v;
};
const ids = (v: unknown) => [v].flat().map(Number);

/** The Hugging Face vocabulary as llama.cpp lists it: every id up to vocab_size, added specials as control tokens. */
function vocabulary() {
  const size = num('vocab_size');
  const tokens = Array.from({ length: size }, (_, i) => `[PAD${i}]`);
  const types: number[] = Array.from({ length: size }, () => TOKEN_TYPE.userDefined);
  for (const [token, id] of Object.entries(tokenizerJson.model.vocab)) [tokens[id], types[id]] = [token, TOKEN_TYPE.normal];
  for (const t of tokenizerJson.added_tokens) [tokens[t.id], types[t.id]] = [t.content, t.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined];
  const merges = tokenizerJson.model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')));
  return { tokens, types, merges };
}

function writeFixture(file: string, type: GgufTensorType): void {
  const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
  const bytes = readFileSync(header.file);
  const tensors: GgufTensor[] = [...header.tensors.values()].map((t) => {
    if (t.dtype !== 'F32') throw new Error(`${header.file}: ${t.name} is ${t.dtype}; this check reads F32 fixtures`);
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + t.start, bytes.byteOffset + t.end));
    // as convert_hf_to_gguf.py: vectors (norms, biases) stay F32
    return { name: ggufTensorName(t.name), shape: t.shape, type: t.shape.length === 1 ? 'F32' : type, chunks: () => [values] };
  });
  const eos = ids(config.eos_token_id);
  const rope = (config.rope_parameters ?? {}) as { rope_theta?: number };
  writeGguf(file, [
    ...qwen2Metadata('qwen2 fixture', {
      hidden: num('hidden_size'), layers: num('num_hidden_layers'), heads: num('num_attention_heads'), kvHeads: num('num_key_value_heads'),
      ffn: num('intermediate_size'), context: num('max_position_embeddings'), ropeTheta: Number(config.rope_theta ?? rope.rope_theta), rmsEps: num('rms_norm_eps'),
    }, type),
    ...gpt2TokenizerMetadata({ ...vocabulary(), bos: num('bos_token_id'), eos: eos[0], pad: num('pad_token_id'), pre: 'qwen2', chatTemplate: String(tokenizerConfig.chat_template) }),
  ], tensors);
}

const generation = expected.generation as { max_new_tokens: number; eos_token_ids: number[] };
const eos = new Set(generation.eos_token_ids);
const texts = expected.texts as string[];
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const tmp = mkdtempSync(join(tmpdir(), 'attnflow-gguf-check-'));
let failures = 0;
for (const type of ['F32', 'F16', 'Q8_0'] as const) {
  const file = join(tmp, `qwen2-${type}.gguf`);
  writeFixture(file, type);
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: num('max_position_embeddings'), threads: 1 });
  const sequence = context.getSequence();
  for (const [i, text] of texts.entries()) {
    const inputIds = expected[`prompt${i}.input_ids`] as number[];
    const greedy = expected[`prompt${i}.greedy_ids`] as number[];
    const tokenized = model.tokenize(text, true);
    const generated: number[] = [];
    await sequence.clearHistory();
    for await (const token of sequence.evaluate(inputIds as Token[], { temperature: 0, yieldEogToken: true })) {
      generated.push(token);
      if (eos.has(token) || generated.length >= generation.max_new_tokens) break;
    }
    const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, k) => x === b[k]);
    const tokensOk = same(tokenized, inputIds);
    const greedyOk = same([...inputIds, ...generated], greedy);
    // Q8_0 rounds weights to 8 bits: its continuations are shown, not required to match
    if ((type !== 'Q8_0' && !greedyOk) || (type === 'F32' && !tokensOk)) failures++;
    console.log(`${type} prompt ${i}: tokens ${tokensOk ? 'equal' : `DIFFER (${tokenized.join(' ')} vs ${inputIds.join(' ')})`}, greedy ${greedyOk ? 'equal' : `DIFFERS (${generated.join(' ')} vs ${greedy.slice(inputIds.length).join(' ')})`}`);
  }
  await context.dispose();
  await model.dispose();
}
rmSync(tmp, { recursive: true, force: true });
console.log(failures ? `${failures} differences` : 'GGUF writer: llama.cpp reads the checkpoint as transformers does');
process.exit(failures ? 1 : 0);
