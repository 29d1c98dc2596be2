/**
 * Quality of the embedded models (pipelines/models) on the held-out sets in pipelines/models/eval, measured
 * through attnflow's own API (not PyTorch):
 *   npm run eval:models                 all sets, a table on stdout
 *   npm run eval:models -- --limit 5    the first 5 items of each set (what the test runs)
 *   npm run eval:models -- --json       the figures as JSON
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { answer, classify, embed, extractEntities, fillMask, resolveModel } from '@attnflow/pipeline';
import { closeSharedEngine } from '@attnflow/kernels';
import { negativeLogLikelihood } from '@attnflow/models';

export const MODELS_DIR = fileURLToPath(new URL('../pipelines/models/', import.meta.url));
const EVAL_DIR = `${MODELS_DIR}eval/`;

export interface Figure {
  task: string;
  model: string;
  metric: string;
  /** Per evaluation set (hand-written everyday text, held-out WordNet text…). */
  values: Record<string, number>;
  items: number;
  bar?: number;
}

const lines = (file: string) => readFileSync(`${EVAL_DIR}${file}`, 'utf8').split('\n').filter((l) => l.trim());
const jsonl = <T>(file: string): T[] => lines(file).map((l) => JSON.parse(l) as T);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, ' ').replace(/\b(a|an|the)\b/g, ' ').split(/\s+/).filter(Boolean).join(' ');
}

async function sentiment(limit: number): Promise<Figure> {
  const rows = jsonl<{ text: string; label: string }>('sentiment.jsonl').slice(0, limit);
  const out = await classify(`${MODELS_DIR}mini-bert-sentiment`, rows.map((r) => r.text));
  return { task: 'classify', model: 'mini-bert-sentiment', metric: 'accuracy', values: { everyday: mean(out.map((o, i) => Number(o.label === rows[i].label))) }, items: rows.length, bar: 0.85 };
}

/**
 * Micro-averaged entity F1: an entity counts when its text and type both match a gold one. `everyday` labels each
 * word by its first piece (aggregation `first`: word-level, as CoNLL scores NER and as BERT's paper labels words);
 * `everyday-pieces` groups pieces as the `ner` command does by default (`simple`), where two pieces of one word
 * labelled apart make two wrong entities.
 */
async function ner(limit: number): Promise<Figure> {
  const rows = jsonl<{ text: string; entities: [string, string][] }>('ner.jsonl').slice(0, limit);
  const values: Record<string, number> = {};
  for (const [name, aggregation] of [['everyday', 'first'], ['everyday-pieces', 'simple']] as const) {
    values[name] = entityF1(rows, await extractEntities(`${MODELS_DIR}mini-bert-ner`, rows.map((r) => r.text), { head: { aggregation } }));
  }
  return { task: 'ner', model: 'mini-bert-ner', metric: 'entity F1', values, items: rows.length, bar: 0.75 };
}

function entityF1(rows: { entities: [string, string][] }[], out: { group: string; word: string }[][]): number {
  let tp = 0, predicted = 0, gold = 0;
  out.forEach((entities, i) => {
    const left = rows[i].entities.map(([w, g]) => `${g}\t${w}`);
    gold += left.length;
    predicted += entities.length;
    for (const e of entities) {
      const k = left.indexOf(`${e.group}\t${e.word}`);
      if (k >= 0) {
        tp++;
        left.splice(k, 1);
      }
    }
  });
  const p = predicted ? tp / predicted : 0, r = gold ? tp / gold : 0;
  return p + r ? (2 * p * r) / (p + r) : 0;
}

async function qa(limit: number): Promise<Figure> {
  const rows = jsonl<{ context: string; question: string; answer: string }>('qa.jsonl').slice(0, limit);
  const hits: number[] = [];
  for (const r of rows) {
    const a = await answer(`${MODELS_DIR}mini-bert-qa`, r.question, r.context);
    hits.push(Number(a.answer !== null && normalizeAnswer(a.answer) === normalizeAnswer(r.answer)));
  }
  return { task: 'qa', model: 'mini-bert-qa', metric: 'exact match', values: { everyday: mean(hits) }, items: rows.length, bar: 0.6 };
}

/** recall@3: the share of queries whose written answer is among the 3 documents nearest by cosine. */
async function retrieval(limit: number): Promise<Figure> {
  const set = JSON.parse(readFileSync(`${EVAL_DIR}retrieval.json`, 'utf8')) as { documents: string[]; queries: [string, number][] };
  const queries = set.queries.slice(0, limit);
  const model = `${MODELS_DIR}mini-bert`;
  const docs = await embed(model, set.documents);
  const qs = await embed(model, queries.map((q) => q[0]));
  const hits = qs.map((q, i) => {
    const scores = docs.map((d, j) => [q.reduce((s, x, k) => s + x * d[k], 0), j] as const).sort((a, b) => b[0] - a[0]);
    return Number(scores.slice(0, 3).some(([, j]) => j === queries[i][1]));
  });
  return { task: 'embed', model: 'mini-bert', metric: 'recall@3', values: { everyday: mean(hits) }, items: queries.length, bar: 0.7 };
}

async function maskedLm(limit: number): Promise<Figure> {
  const rows = jsonl<{ text: string; answer: string; source: string }>('mlm.jsonl');
  const subset = [...new Set(rows.map((r) => r.source))].flatMap((s) => rows.filter((r) => r.source === s).slice(0, limit));
  const out = await fillMask(`${MODELS_DIR}mini-bert-mlm`, subset.map((r) => r.text), { head: { topK: 1 } });
  const values: Record<string, number> = {};
  for (const source of new Set(subset.map((r) => r.source))) {
    values[source] = mean(subset.flatMap((r, i) => (r.source === source ? [Number(out[i][0][0].token === r.answer)] : [])));
  }
  return { task: 'fill-mask', model: 'mini-bert-mlm', metric: 'top-1', values, items: subset.length };
}

/** exp(mean negative log-likelihood per token) of each text's tokens after the first. */
async function perplexity(limit: number): Promise<Figure> {
  const all = lines('generator.txt');
  const sets: Record<string, string[]> = { everyday: all.slice(0, 30).slice(0, limit), wordnet: all.slice(30).slice(0, limit) };
  const m = resolveModel(`${MODELS_DIR}mini-gpt2`);
  if (m.kind !== 'causal') throw new Error(`${MODELS_DIR}mini-gpt2: expected a causal LM, found ${m.kind}`);
  const values: Record<string, number> = {};
  for (const [name, texts] of Object.entries(sets)) {
    let nll = 0, count = 0;
    for (const text of texts) {
      const text_ = await negativeLogLikelihood(m.model, m.tokenizer.encode(text).ids.slice(0, m.model.recipe.maxPositions));
      nll += text_.nll;
      count += text_.tokens;
    }
    values[name] = Math.exp(nll / count);
  }
  return { task: 'generate', model: 'mini-gpt2', metric: 'perplexity', values, items: sets.everyday.length + sets.wordnet.length };
}

export async function evaluateModels(options: { limit?: number; onFigure?: (f: Figure) => void } = {}): Promise<Figure[]> {
  const limit = options.limit ?? Infinity;
  const out: Figure[] = [];
  for (const f of [retrieval, sentiment, ner, qa, maskedLm, perplexity]) {
    out.push(await f(limit));
    options.onFigure?.(out[out.length - 1]);
  }
  return out;
}

export function formatFigures(figures: Figure[]): string {
  const rows = figures.map((f) => [f.model, f.task, f.metric, Object.entries(f.values).map(([k, v]) => `${k} ${v.toFixed(f.metric === 'perplexity' ? 1 : 3)}`).join(', '), String(f.items), f.bar === undefined ? '' : `≥ ${f.bar}`]);
  const head = ['model', 'task', 'metric', 'value', 'items', 'bar'];
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { limit: { type: 'string' }, json: { type: 'boolean' } } });
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit: expected a positive integer, got "${values.limit}"`);
  const figures = await evaluateModels({ limit, onFigure: values.json ? undefined : (f) => process.stderr.write(`${f.model}: ${JSON.stringify(f.values)}\n`) });
  console.log(values.json ? JSON.stringify(figures, null, 1) : formatFigures(figures));
  await closeSharedEngine();
}
