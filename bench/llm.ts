import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTokens } from '@attnflow/decoder';
import { Engine } from '@attnflow/kernels';
import { ConfigReader, LlamaModel } from '@attnflow/models';
import { wasmBandwidth, type Bandwidth } from './bandwidth.js';
import { arg, flag, table } from './common.js';
import { llamaCppRun } from './llamacpp.js';
import { SHAPE, SyntheticQwen2 } from './qwen2-synthetic.js';
import { TimedEngine } from './profile.js';
import { wllamaRun } from './wllama.js';

/** What every engine is given: token ids (no tokenizer), a 512-token prefill, decoding after 16 and 1,024. */
export interface DecodeRun {
  prefill: readonly number[];
  contexts: readonly (readonly number[])[];
  /** Tokens generated per decode run (the first one ends the prefill, so newTokens - 1 steps are timed). */
  newTokens: number;
  contextSize: number;
}

export interface Measured {
  loadS: number;
  rssMb: number;
  /** Tokens/s. */
  prefill: number;
  /** Tokens/s, one per context of the run. */
  decode: number[];
}

type AttnflowDType = 'fp32' | 'q8' | 'q4';
/** What each attnflow dtype keeps the checkpoint's BF16 matrices as. */
const WEIGHTS: Record<AttnflowDType, string> = { fp32: 'BF16', q8: 'q8 (groups of 32)', q4: 'q4 (groups of 32)' };

const prompt = (n: number) => Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % 150_000));

/** `profile`: an engine that times the kernel calls of the first context's decoding (see TimedEngine). */
async function attnflowRun(dir: string, workers: number, run: DecodeRun, dtype: AttnflowDType, profile?: TimedEngine): Promise<Measured> {
  const rss = process.memoryUsage().rss;
  const engine = profile ?? new Engine({ workers });
  const t0 = performance.now();
  const model = LlamaModel.load(dir, engine, ConfigReader.read(dir), { dtype });
  const loadS = (performance.now() - t0) / 1000;
  const rssMb = (process.memoryUsage().rss - rss) / 2 ** 20;
  const options = { maxNewTokens: run.newTokens, padTokenId: 0 };
  try {
    const t1 = performance.now();
    (await model.start([[...run.prefill]], { maxNewTokens: 1, padTokenId: 0 })).session.dispose();
    const prefill = run.prefill.length / ((performance.now() - t1) / 1000);
    const decode: number[] = [];
    for (const context of run.contexts) {
      const p = [...context];
      const { session, logits } = await model.start([p], options);
      let t = 0, count = 0;
      const timing = profile && context === run.contexts[0];
      await generateTokens(session, logits, [p], options, {
        onToken: () => {
          if (count++ > 0) return;
          t = performance.now();
          if (timing) profile.timing = true;
        },
      });
      if (timing) profile.timing = false;
      decode.push(((count - 1) * 1000) / (performance.now() - t));
      session.dispose();
    }
    return { loadS, rssMb, prefill, decode };
  } finally {
    model.dispose();
    await engine.close();
  }
}

/**
 * Qwen2.5-0.5B-shaped decoding, attnflow (BF16 safetensors) against llama.cpp natively (node-llama-cpp) and
 * compiled to WebAssembly (wllama) on the same weights written as GGUF F16 and Q8_0: load time and memory,
 * prefill tokens/s for a 512-token prompt, decode tokens/s at 16 and 1,024 tokens of context, each as a share of
 * the limit that reading every weight once per token sets (WebAssembly read bandwidth on as many threads ÷
 * weight bytes); wllama on the most threads only. attnflow runs in each dtype (fp32 = the BF16 weights as stored,
 * q8, q4). `--llm-layers N` shrinks the depth for a quick run, `--llm-threads 2` skips the 1-thread rows,
 * `--llm-dtypes fp32,q4` picks attnflow's dtypes, `--llm-no-peers` runs attnflow alone, `--llm-profile` adds where
 * attnflow's decoding time goes at 16 tokens of context, per dtype, on the most threads.
 */
export async function llmBench(): Promise<string> {
  const layers = Number(arg('llm-layers') ?? SHAPE.layers);
  const threadCounts = (arg('llm-threads') ?? '1,2').split(',').map(Number);
  const model = new SyntheticQwen2(layers);
  const dir = mkdtempSync(join(tmpdir(), 'attnflow-qwen2-'));
  const run: DecodeRun = { prefill: prompt(512), contexts: [prompt(16), prompt(1024)], newTokens: 16, contextSize: 2048 };
  const bandwidth = await wasmBandwidth(Math.max(...threadCounts));
  const readAt = (threads: number) => (bandwidth.find((b) => b.threads === threads) ?? bandwidth[bandwidth.length - 1]).read;
  const rows: (string | number)[][] = [['engine', 'weights', 'threads', 'load s', 'RSS +MB', 'prefill 512 tok/s', 'decode @16 tok/s', 'decode @1024 tok/s', '@16 share of limit']];
  const row = (engine: string, weights: string, bytes: number, threads: number, m: Measured | string) => {
    if (typeof m === 'string') return rows.push([engine, weights, threads, m, '', '', '', '', '']);
    const limit = readAt(threads) / bytes;
    rows.push([engine, weights, threads, m.loadS, m.rssMb, m.prefill, m.decode[0], m.decode[1], `${((100 * m.decode[0]) / limit).toFixed(0)} %`]);
  };
  const failed = (e: unknown) => `failed: ${(e as Error).message.split('\n')[0].slice(0, 120)}`;
  const profiles: string[] = [];
  try {
    model.writeSafetensors(dir);
    for (const dtype of (arg('llm-dtypes') ?? 'fp32,q8,q4').split(',') as AttnflowDType[]) {
      for (const threads of threadCounts) {
        const profile = flag('llm-profile') && threads === Math.max(...threadCounts) ? new TimedEngine({ workers: threads }) : undefined;
        const m = await attnflowRun(dir, threads, run, dtype, profile);
        row('attnflow', WEIGHTS[dtype], model.attnflowBytes(dtype), threads, m);
        const steps = run.newTokens - 1;
        if (profile) profiles.push(`attnflow ${WEIGHTS[dtype]}, decoding at 16 tokens of context, ${threads} threads: ${(1000 / m.decode[0]).toFixed(1)} ms a token\n\n${profile.report(steps, 1000 / m.decode[0], 'token')}`);
      }
    }
    if (!flag('llm-no-peers')) {
      for (const type of ['F16', 'Q8_0'] as const) {
        const file = join(dir, `model-${type}.gguf`);
        model.writeGguf(file, type);
        for (const threads of threadCounts) row('llama.cpp (node-llama-cpp)', type, model.matrixBytes(type), threads, await llamaCppRun(file, threads, run).catch(failed));
        // wllama's compatibility build loads and decodes slowly: the most threads only
        const most = Math.max(...threadCounts);
        row('llama.cpp in WebAssembly (wllama)', type, model.matrixBytes(type), most, await wllamaRun(file, most, run).catch(failed));
        rmSync(file, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bw = (b: Bandwidth) => `${b.threads} thread${b.threads > 1 ? 's' : ''}: read ${(b.read / 1e9).toFixed(1)} GB/s, copy ${(b.copy / 1e9).toFixed(1)} GB/s`;
  return `${table(rows)}\n(Qwen2.5-0.5B shape, ${layers} layers, random weights: matrices ${(model.matrixBytes('BF16') / 1e9).toFixed(2)} GB as BF16 or F16, ` +
    `${(model.matrixBytes('Q8_0') / 1e9).toFixed(2)} GB as Q8_0; attnflow q8 ${(model.attnflowBytes('q8') / 1e9).toFixed(2)} GB, q4 ${(model.attnflowBytes('q4') / 1e9).toFixed(2)} GB (the tied head in 8 bits in both). WebAssembly memory bandwidth (SIMD read loop, memory.copy) — ${bandwidth.map(bw).join('; ')}. ` +
    `Limit = read bandwidth on that many threads ÷ matrix bytes; greedy, ${run.newTokens} new tokens, prompts of token ids.)` + profiles.map((p) => `\n\n${p}`).join('');
}
