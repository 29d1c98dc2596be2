import { writeFileSync } from 'node:fs';
import { Engine } from '@attnflow/kernels';
import { explainToken, loadModel, type Explanation } from '@attnflow/models';
import { toPng, toSvg, tokenBars } from '@attnflow/viz';
import { EXIT, UsageError, int, str, type Command } from '../cli.js';
import { modelFor } from '../defaults.js';

const vec = (xs: number[], n = 6) => `[${xs.slice(0, n).map((x) => x.toFixed(4).padStart(8)).join(',')}${xs.length > n ? `, … (${xs.length} numbers)` : ''} ]`;

export function explanationText(e: Explanation, modelName: string): string {
  const w = Math.max(8, ...e.tokens.map((t) => t.length)) + 2;
  const rows = e.tokens.map((t, j) => `  ${(t + (j === e.tokenIndex ? ' ←' : '')).padEnd(w + 2)}${e.scores[j].toFixed(4).padStart(10)}${e.scaled[j].toFixed(4).padStart(12)}${e.weights[j].toFixed(4).padStart(11)}`);
  return [
    `Self-attention for "${e.token}" (token ${e.tokenIndex} of ${e.tokens.length}) in layer ${e.layer}, head ${e.head} of ${modelName}`,
    `tokens: ${e.tokens.join(' ')}`,
    '',
    `1. X, the vector of "${e.token}" entering layer ${e.layer} (hidden size ${e.hiddenSize}):`,
    `   X = ${vec(e.x)}`,
    '',
    `2. Projections. Wq, Wk, Wv are [${e.shapes.projection.join(' × ')}] each; head ${e.head} uses rows ${e.head * e.headDim}–${(e.head + 1) * e.headDim - 1},`,
    `   a [${e.shapes.headSlice.join(' × ')}] slice (head_dim ${e.headDim} = ${e.hiddenSize} / ${e.numHeads} heads), plus a bias of ${e.headDim}:`,
    `   q = X·Wqᵀ + bq = ${vec(e.q)}`,
    `   k = X·Wkᵀ + bk = ${vec(e.keys[e.tokenIndex])}   (every word has its own k and v)`,
    `   v = X·Wvᵀ + bv = ${vec(e.values[e.tokenIndex])}`,
    '',
    `3. q is dotted with the key of every word, scaled by 1/√${e.headDim} = ${e.scale.toFixed(4)}, and softmax turns the scores into weights:`,
    `  ${'word'.padEnd(w + 2)}${'q·k'.padStart(10)}${'× scale'.padStart(12)}${'softmax'.padStart(11)}`,
    ...rows,
    `  ${''.padEnd(w + 2)}${''.padStart(10)}${''.padStart(12)}${e.weights.reduce((a, b) => a + b, 0).toFixed(4).padStart(11)}  (the weights sum to 1)`,
    '',
    `4. The output for "${e.token}" is the weighted sum of the value vectors, Σ weight_j · v_j:`,
    `   z = ${vec(e.output)}`,
    `   (the ${e.numHeads} heads' outputs are concatenated and projected back to ${e.hiddenSize} numbers by the output layer)`,
  ].join('\n');
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'walk through self-attention for one word, step by step, with the model\'s own numbers',
  usage: 'attnflow explain [--model DIR] "The 2022 Beijing Winter Games" --token Games [--layer L --head H] [--json] [--picture FILE]',
  options: { model: { type: 'string', short: 'm' }, token: { type: 'string' }, layer: { type: 'string' }, head: { type: 'string' }, json: { type: 'boolean' }, picture: { type: 'string' } },
  help: `Prints X for the word, the shapes of Wq/Wk/Wv, q/k/v, the score against each word's key, the scaled
scores, the softmax weights and the output vector — the same numbers the model's forward pass computes.
Queries, keys and values, and this "Games" example, are explained in docs/self-attention.md.
Options:
  -m, --model DIR       a BERT-family model (default: the embedded mini-bert-mlm)
  --token WORD          the word to explain (required)
  --layer N, --head N   which layer and head (default 0 and 0)
  --json                the same numbers as JSON
  --picture FILE        also draw the word's attention as a bar chart (.png or .svg)`,
  async run(v, pos) {
    if (pos.length !== 1) throw new UsageError('explain takes one text, in quotes');
    const token = str(v.token);
    if (!token) throw new UsageError('explain needs --token WORD (the word whose attention to explain)');
    const engine = new Engine({ workers: 1 });
    try {
      const dir = modelFor('explain', str(v.model));
      const model = loadModel(dir, engine);
      if (model.kind !== 'encoder') throw new UsageError(`explain walks through BERT-family encoders; ${dir} is ${model.config.architecture} (use "attnflow attention" for it)`);
      const e = await explainToken(model.model, model.tokenizer, pos[0], token, int(v.layer, 'layer') ?? 0, int(v.head, 'head') ?? 0);
      process.stdout.write(v.json === true ? `${JSON.stringify(e, null, 1)}\n` : `${explanationText(e, dir.split('/').filter(Boolean).pop()!)}\n`);
      const picture = str(v.picture);
      if (picture) {
        const maps = { kind: 'self' as const, queryTokens: e.tokens, keyTokens: e.tokens, layers: 1, heads: 1, weights: new Float32Array(e.tokens.length * e.tokens.length) };
        maps.weights.set(e.weights, e.tokenIndex * e.tokens.length);
        const chart = tokenBars(maps, e.tokenIndex, 0, 0, `"${e.token}" attends to… (layer ${e.layer}, head ${e.head})`);
        writeFileSync(picture, picture.endsWith('.svg') ? toSvg(chart) : await toPng(chart));
        process.stderr.write(`picture: ${picture}\n`);
      }
      return EXIT.ok;
    } finally {
      await engine.close();
    }
  },
};
