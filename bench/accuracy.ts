import { readFileSync } from 'node:fs';
import { Engine } from '@attnflow/kernels';
import { loadModel, negativeLogLikelihood, type LoadedModel, type ModelDType } from '@attnflow/models';
import { classify, cosineSimilarity, embed } from '@attnflow/pipeline';
import { table } from './common.js';

/**
 * What dtypes q8 and q4 cost in accuracy, measured against fp32 on the same inputs: sentence-embedding cosine (mean
 * and worst over ≥ 1,000 texts), classifier logits, and for causal LMs the greedy tokens kept and the perplexity.
 */
const SAMPLE = new URL('../pipelines/data/sample.txt', import.meta.url);
const MODELS = new URL('../pipelines/models/', import.meta.url).pathname;

/** 1,200 distinct texts of 3 to 60 words: the sample corpus' lines, rotated and cut at different places. */
export function corpus(count = 1200): string[] {
  const lines = readFileSync(SAMPLE, 'utf8').split('\n').filter((l) => l.trim());
  return Array.from({ length: count }, (_, i) => {
    const words = lines[i % lines.length].split(/\s+/);
    const turn = Math.floor(i / lines.length);
    const rotated = [...words.slice(turn % words.length), ...words.slice(0, turn % words.length)];
    return rotated.slice(0, 3 + ((i * 7) % 58)).join(' ');
  });
}

const QUANTIZED: ModelDType[] = ['q8', 'q4'];

/** f's result in fp32, then in each quantized dtype, each one described against fp32's by `against`. */
async function compare<T>(dir: string, engine: Engine, f: (m: LoadedModel) => Promise<T>, against: (fp32: T, quantized: T) => string): Promise<string[]> {
  const out: T[] = [];
  for (const dtype of ['fp32', ...QUANTIZED] as ModelDType[]) {
    const m = loadModel(dir, engine, { dtype });
    try {
      out.push(await f(m));
    } finally {
      m.model.dispose();
    }
  }
  return out.slice(1).map((q) => against(out[0], q));
}

async function embeddings(dir: string, name: string, texts: string[], engine: Engine): Promise<(string | number)[]> {
  return [name, 'embed: cosine to fp32', ...await compare(dir, engine, (m) => embed(m, texts), (a, b) => {
    const cos = a.map((v, i) => cosineSimilarity(v, b[i]));
    return `mean ${(cos.reduce((s, c) => s + c, 0) / cos.length).toFixed(5)}, worst ${Math.min(...cos).toFixed(5)}`;
  }), texts.length];
}

async function logits(dir: string, name: string, texts: string[], engine: Engine): Promise<(string | number)[]> {
  return [name, 'classify: logits', ...await compare(dir, engine, (m) => classify(m, texts, { head: { functionToApply: 'none', topK: m.config.int('num_labels', 2) } }), (a, b) => {
    let diff = 0, same = 0;
    a.forEach((result, i) => {
      const other = new Map(b[i].labels.map((l) => [l.label, l.score]));
      for (const l of result.labels) diff = Math.max(diff, Math.abs(l.score - other.get(l.label)!));
      if (result.label === b[i].label) same++;
    });
    return `max |diff| ${diff.toExponential(2)}, same label ${((100 * same) / texts.length).toFixed(1)}%`;
  }), texts.length];
}

async function decoder(dir: string, name: string, texts: string[], engine: Engine): Promise<(string | number)[]> {
  const prompts = texts.slice(0, 20);
  const tokens = 50;
  return [name, 'generate: greedy tokens, perplexity', ...await compare(dir, engine, async (m) => {
    if (m.kind !== 'causal') throw new Error(`${dir}: expected a causal LM`);
    const ids = prompts.map((p) => m.tokenizer.encode(p).ids.slice(0, 32));
    const generated = await m.model.generate(ids, { maxNewTokens: tokens, minNewTokens: tokens, doSample: false, numBeams: 1 });
    let nll = 0, count = 0;
    for (const text of texts.slice(0, 100)) {
      const one = await negativeLogLikelihood(m.model, m.tokenizer.encode(text).ids.slice(0, 64));
      nll += one.nll;
      count += one.tokens;
    }
    return { generated, perplexity: Math.exp(nll / count) };
  }, (a, b) => {
    let same = 0, total = 0;
    a.generated.forEach((g, i) => g.forEach((t, j) => {
      total++;
      if (b.generated[i][j] === t) same++;
    }));
    return `${((100 * same) / total).toFixed(1)}% of ${total} greedy tokens unchanged; perplexity ${a.perplexity.toFixed(2)} → ${b.perplexity.toFixed(2)}`;
  }), prompts.length];
}

export async function accuracyBench(benchModel: string | undefined): Promise<string> {
  const texts = corpus();
  const engine = new Engine();
  try {
    const rows: (string | number)[][] = [['model', 'measure', ...QUANTIZED.map((d) => `${d} against fp32`), 'texts']];
    if (benchModel) rows.push(await embeddings(benchModel, `${benchModel} (random MiniLM-shaped)`, texts, engine));
    rows.push(await embeddings(`${MODELS}mini-bert`, 'pipelines/models/mini-bert', texts, engine));
    rows.push(await logits(`${MODELS}mini-bert-sentiment`, 'pipelines/models/mini-bert-sentiment', texts, engine));
    rows.push(await decoder(`${MODELS}mini-gpt2`, 'pipelines/models/mini-gpt2', texts, engine));
    return [table(rows), 'Perplexity over the first 100 texts (64 tokens at most each); greedy tokens compared position by position (50 a prompt, 20 prompts).'].join('\n');
  } finally {
    await engine.close();
  }
}
