import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { cosineSimilarity as cosine, embed, type Pipeline } from '@attnflow/pipeline';
import { UsageError } from '../cli.js';

/** The JSONL file an embed pipeline writes, with texts; a usage error for any other pipeline. */
export function searchableOutput(pipeline: Pipeline): string {
  const { task, sink } = pipeline.job;
  if (task !== 'embed' || sink.type !== 'jsonl' || !sink.path || sink.includeText === false) {
    throw new UsageError('--search needs an embed pipeline whose sink is a JSONL file with the texts (sink.type: jsonl)');
  }
  return sink.path;
}

/**
 * Semantic search over what an embed pipeline has just written: embeds the query with the pipeline's model and
 * pooling, streams the JSONL output (one line in memory at a time) and prints the k nearest texts by cosine.
 */
export async function printNearest(pipeline: Pipeline, query: string, k: number): Promise<void> {
  const output = searchableOutput(pipeline);
  // The query is embedded exactly as the lines were: the pipeline's own tokenizer and head settings.
  const { tokenizer, head } = pipeline.job.options;
  const [q] = await embed(pipeline.model(), [query], { tokenizer, head: { pooling: 'pooling' in head ? head.pooling : undefined, normalize: 'normalize' in head ? head.normalize : undefined } });
  const best: { score: number; text: string }[] = [];
  for await (const line of createInterface({ input: createReadStream(output), crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { text?: unknown; embedding?: unknown };
    if (typeof row.text !== 'string' || !Array.isArray(row.embedding)) continue;
    const score = cosine(q, row.embedding);
    if (best.length === k && score <= best[k - 1].score) continue;
    const at = best.findIndex((b) => b.score < score);
    best.splice(at === -1 ? best.length : at, 0, { score, text: row.text });
    if (best.length > k) best.pop();
  }
  process.stdout.write(`\nsemantic search in ${output}\nquery: ${query}\n${best.map((b) => `  ${b.score.toFixed(3)}  ${b.text}`).join('\n')}\n`);
}
