import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import type { DecodeRun, Measured } from './llm.js';

/**
 * llama.cpp natively (node-llama-cpp, its prebuilt CPU binary) on a GGUF file: the same prompts and counts as
 * attnflow's run. Greedy; an end-of-generation token does not stop it, so every run decodes its full count.
 */
export async function llamaCppRun(file: string, threads: number, run: DecodeRun): Promise<Measured> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const rss = process.memoryUsage().rss;
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: run.contextSize, batchSize: run.prefill.length, threads: { ideal: threads, min: threads }, sequences: 1 });
  const loadS = (performance.now() - t0) / 1000;
  const sequence = context.getSequence();
  try {
    const t1 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(run.prefill as Token[]);
    const prefill = run.prefill.length / ((performance.now() - t1) / 1000);
    const decode: number[] = [];
    for (const prompt of run.contexts) {
      await sequence.clearHistory();
      let t = 0, n = 0;
      for await (const _ of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
        if (n++ === 0) t = performance.now();
        if (n >= run.newTokens) break;
      }
      decode.push(((n - 1) * 1000) / (performance.now() - t));
    }
    return { loadS, rssMb: (process.memoryUsage().rss - rss) / 2 ** 20, prefill, decode };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}
