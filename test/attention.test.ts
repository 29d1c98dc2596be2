import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { loadModel, explainToken } from '@attnflow/models';
import { Engine, unpackPanels } from '@attnflow/kernels';
import { floatWeight } from '@attnflow/layers';
import { attentionMaps } from '@attnflow/pipeline';
import { attentionHtml, attentionTable, heatmapGrid, toPng, toSvg, tokenBars } from '@attnflow/viz';
import { CHROMIUM, openPage } from './helpers/browser.js';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';
import { cli, tempDir } from './helpers/cli.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());
const bert = loadModel(fixture('bert'), engine);

/** The labels a PNG chart recorded in its attnflow:labels text chunk. */
function pngLabels(png: Buffer): string[] {
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    if (type === 'zTXt') {
      const data = png.subarray(at + 8, at + 8 + len);
      const nul = data.indexOf(0);
      if (data.subarray(0, nul).toString('latin1') === 'attnflow:labels') return JSON.parse(inflateSync(data.subarray(nul + 2)).toString('utf8'));
    }
    at += 12 + len;
  }
  return [];
}

describe('attention weights', () => {
  it('match the reference attentions of the bert fixture, and every row sums to 1', async () => {
    const exp = readJson('bert', 'expected.json');
    const ref = readExpected('bert', 'expected.safetensors');
    for (let j = 0; j < exp.texts.length; j++) {
      if (!exp.texts[j]) continue;
      const [{ maps }] = await attentionMaps(bert, exp.texts[j]);
      expectClose(maps.weights, ref.get(`text${j}.attentions`)!.data, 1e-4, `text ${j}`);
      const k = maps.keyTokens.length;
      for (let r = 0; r < maps.weights.length / k; r++) expect(Math.abs(maps.weights.subarray(r * k, (r + 1) * k).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    }
  });

  it('decoders: causal maps are lower-triangular; cross maps are target × source', async () => {
    const [gpt] = await attentionMaps(loadModel(fixture('gpt2'), engine), 'The 2022 Beijing Winter Games');
    const n = gpt.maps.queryTokens.length;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(gpt.maps.weights[i * n + j]).toBe(0);
    const stacks = await attentionMaps(loadModel(fixture('t5'), engine), 'The 2022 Beijing Winter Games', { target: 'Les jeux' });
    expect(stacks.map((s) => s.name)).toEqual(['encoder', 'decoder', 'cross']);
    const cross = stacks[2].maps;
    expect(cross.keyTokens).toEqual(stacks[0].maps.queryTokens);
    expect(cross.queryTokens).toEqual(stacks[1].maps.queryTokens);
  });

  it('as an Arrow table in long form (layer, head, query, key, tokens, weight)', async () => {
    const [{ maps }] = await attentionMaps(bert, 'The 2022 Beijing Winter Games');
    const table = tableFromIPC(tableToIPC(attentionTable(maps), 'file'));
    const q = maps.queryTokens.length;
    expect(table.numRows).toBe(2 * 4 * q * q);
    expect(table.schema.fields.map((f) => f.name)).toEqual(['layer', 'head', 'query', 'key', 'query_token', 'key_token', 'weight']);
    const row = table.get(q * q + 3)!;
    expect([row.layer, row.head, row.query, row.key]).toEqual([0, 1, 0, 3]);
    expect(row.weight).toBe(maps.weights[q * q + 3]);
  });
});

describe('pictures', () => {
  it('PNG heatmap grid: decodes, has the laid-out size and one label per token per axis per panel', async () => {
    const [{ maps }] = await attentionMaps(bert, 'The 2022 Beijing Winter Games');
    const chart = heatmapGrid(maps, { title: 't' });
    const png = await toPng(chart);
    const img = PNG.sync.read(png);
    expect([img.width, img.height]).toEqual([Math.ceil(chart.width), Math.ceil(chart.height)]);
    const labels = pngLabels(png);
    const q = maps.queryTokens.length;
    const panels = maps.layers * maps.heads;
    expect(labels.length).toBe(1 + panels * (1 + 2 * q) + 6);
    expect(labels.filter((l) => l === 'games').length).toBe(2 * panels);
    const svg = toSvg(chart);
    expect(svg.match(/class="label"/g)!.length).toBe(labels.length);
    const bars = PNG.sync.read(await toPng(tokenBars(maps, 5, 1, 2)));
    expect(bars.width).toBeGreaterThan(300);
  });

  it('the HTML page works offline in headless Chromium: clicking another head changes the picture', async () => {
    expect(CHROMIUM, 'Debian chromium (installed by test/setup.sh)').toBeDefined();
    const [{ maps }] = await attentionMaps(bert, 'The 2022 Beijing Winter Games');
    const file = join(tempDir(), 'page.html');
    writeFileSync(file, attentionHtml(maps, 'test'));
    const page = await openPage(`file://${file}`);
    try {
      const fills = () => page.evaluate<(string | null)[]>(`[...document.querySelectorAll('#grid rect')].map((r) => r.getAttribute('fill'))`);
      const before = await page.screenshot('#grid');
      const fillsBefore = await fills();
      await page.click('#head-1');
      const after = await page.screenshot('#grid');
      const fillsAfter = await fills();
      expect(after.equals(before)).toBe(false);
      expect(fillsAfter).not.toEqual(fillsBefore);
      await page.hover('#grid rect[data-i="5"][data-j="4"]');
      expect(await page.evaluate<string>(`document.getElementById('readout').textContent`)).toMatch(/^games → winter: 0\.\d{4}$/);
      expect(page.requests.length).toBeGreaterThan(0);
      expect(page.requests.every((u) => u.startsWith('file://'))).toBe(true);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('attnflow attention writes PNG, SVG, HTML, Arrow and the token bar chart', () => {
    const dir = tempDir();
    const r = cli(['attention', 'The 2022 Beijing Winter Games', '--model', fixture('bert'), '--token', 'Games', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['attention-encoder.png', 'attention-encoder.svg', 'attention-encoder.html', 'attention-encoder.arrow', 'attention-encoder-Games.png', 'attention-encoder-Games.svg']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(PNG.sync.read(readFileSync(join(dir, 'attention-encoder.png'))).width).toBeGreaterThan(500);
  });
});

describe('explain: the walkthrough is the model\'s own computation', () => {
  it('weights equal the forward pass attention for that layer/head; output equals the head\'s contribution', async () => {
    if (bert.kind !== 'encoder') throw new Error('bert');
    const text = 'The 2022 Beijing Winter Games';
    const enc = bert.tokenizer.encodeBatch([text]);
    const fwd = await bert.model.forward(enc, { outputAttentions: true, outputHiddenStates: true });
    const L = enc.length, H = bert.model.recipe.hiddenSize, D = bert.model.recipe.headDim, heads = bert.model.recipe.numHeads;
    for (const [layer, head] of [[0, 0], [1, 3]]) {
      const e = await explainToken(bert.model, bert.tokenizer, text, 'Games', layer, head);
      const t = e.tokenIndex;
      const probs = fwd.attentions![layer].subarray((head * L + t) * L, (head * L + t + 1) * L);
      expectClose(e.weights, probs, 1e-6, 'weights');
      // The head's contribution, from the layer's value weights and the forward pass's own probabilities.
      const w = bert.model.weights.blocks![layer].selfAttention.qkv;
      const weight = unpackPanels(floatWeight(w, 'qkv').data, 3 * H, H); // loaded layers are packed in panels
      const X = fwd.hiddenStates![layer];
      const expected = new Float64Array(D);
      for (let j = 0; j < L; j++)
        for (let d = 0; d < D; d++) {
          const row = 2 * H + head * D + d;
          let v = w.bias!.data[row];
          for (let c = 0; c < H; c++) v += X[j * H + c] * weight[row * H + c];
          expected[d] += probs[j] * v;
        }
      expectClose(e.output, expected, 1e-5, 'output');
      expectClose(e.scaled, e.scores.map((s) => s / Math.sqrt(D)), 1e-6, 'scaled');
      expect(heads).toBe(4);
    }
  });

  it('clear errors: unknown token (listing the tokens), layer or head out of range', () => {
    const missing = cli(['explain', 'The 2022 Beijing Winter Games', '--model', fixture('bert'), '--token', 'Olympics']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('token "Olympics" is not in the text; its tokens are: "[CLS]" "the" "2022" "beijing" "winter" "games" "[SEP]"');
    expect(cli(['explain', 'The Games', '--model', fixture('bert'), '--token', 'Games', '--layer', '7']).stderr).toContain('--layer 7 is out of range: valid layers are 0 to 1');
    expect(cli(['explain', 'The Games', '--model', fixture('bert'), '--token', 'Games', '--head', '4']).stderr).toContain('--head 4 is out of range: valid heads are 0 to 3');
    const ok = cli(['explain', 'The 2022 Beijing Winter Games', '--model', fixture('bert'), '--token', 'Games', '--json']);
    expect(JSON.parse(ok.stdout).weights.length).toBe(7);
  });
});

describe('the seed module from the CLI', () => {
  it('self-attention --mask causal reproduces the fixture', () => {
    const r = cli(['self-attention', '--weights', fixture('seed-selfattention', 'weights.safetensors'), '--embed-size', '10', '--heads', '2', '--input', fixture('seed-selfattention', 'expected.safetensors'), '--mask', 'causal']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const ref = readExpected('seed-selfattention', 'expected.safetensors');
    expectClose(out.output, ref.get('causal.output')!.data, 1e-5, 'output');
    expectClose(out.attention, ref.get('causal.attention')!.data, 1e-5, 'attention');
    const bad = cli(['self-attention', '--weights', fixture('seed-selfattention', 'weights.safetensors'), '--embed-size', '10', '--heads', '3', '--input', fixture('seed-selfattention', 'expected.safetensors')]);
    expect(bad.stderr).toContain('embed size (10) must be divisible by the number of heads (3)');
  });
});
