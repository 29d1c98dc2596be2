/**
 * npm run bench [-- --model ../shared/bench/minilm-l6] [--only kernels,minilm,profile,accuracy,tokenizers,decode,llm,memory,stream] [--memory-lines N] [--llm-layers N] [--llm-threads 1,2] [--llm-dtypes fp32,q8,q4] [--llm-no-peers] [--llm-profile] [--stream-records N]
 * Prints tables; every figure is measured in this run, peers side by side on identical inputs.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { enableRelaxedSimd } from '@attnflow/kernels';
import { accuracyBench } from './accuracy.js';
import { arg } from './common.js';
import { decodeBench } from './decode.js';
import { kernelsBench } from './kernels.js';
import { llmBench } from './llm.js';
import { memoryBench } from './memory.js';
import { minilmBench } from './minilm.js';
import { profileBench } from './profile.js';
import { streamBench } from './stream.js';
import { tokenizersBench } from './tokenizers.js';

// attnflow runs as the CLI runs it: the fused multiply-add kernels.
enableRelaxedSimd();

const only = arg('only')?.split(',');
const model = arg('model') ?? (existsSync('../shared/bench/minilm-l6') ? '../shared/bench/minilm-l6' : undefined);
const sections: [string, string, () => Promise<string>][] = [
  ['kernels', 'Kernels: GEMM GFLOP/s and pool dispatch', kernelsBench],
  ['minilm', `MiniLM-L6 (last_hidden_state) vs ONNX Runtime on the same weights${model ? ` — ${model}` : ''}`, () => (model ? minilmBench(model) : Promise.resolve('(skipped: pass --model DIR with model.safetensors and onnx/model.onnx)'))],
  ['profile', 'Where a MiniLM forward pass spends its time', () => (model ? profileBench(model) : Promise.resolve('(skipped: pass --model DIR)'))],
  ['accuracy', 'What dtypes q8 and q4 cost in accuracy (against fp32, same inputs)', () => accuracyBench(model)],
  ['tokenizers', 'Tokenizers vs transformers.js on the same tokenizer.json', tokenizersBench],
  ['decode', 'GPT-2 decoding with the key/value cache', decodeBench],
  ['llm', 'Qwen2.5-0.5B-shaped BF16 decoding (prefill, decode at 16 and 1,024 context)', llmBench],
  ['memory', 'Pipeline memory: peak RSS vs corpus size', () => memoryBench(Number(arg('memory-lines') ?? 100_000))],
  ['stream', 'Workers on a Redis Stream vs the same job reading a file', () => streamBench(Number(arg('stream-records') ?? 20_000))],
];
console.log(`attnflow benchmarks — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'} — Node ${process.version}`);
for (const [name, title, run] of sections) {
  if (only && !only.includes(name)) continue;
  console.log(`\n## ${title}\n`);
  console.log(await run());
}
process.exit(0);
