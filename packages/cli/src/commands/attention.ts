import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableToIPC } from 'apache-arrow';
import { Engine } from '@attnflow/kernels';
import { loadModel } from '@attnflow/models';
import { attentionMaps } from '@attnflow/pipeline';
import { findToken } from '@attnflow/tokenizer';
import { attentionHtml, attentionTable, heatmapGrid, toPng, toSvg, tokenBars } from '@attnflow/viz';
import { EXIT, UsageError, int, str, type Command } from '../cli.js';
import { modelFor } from '../defaults.js';

const FORMATS = ['png', 'svg', 'html', 'arrow'];

export const attentionCommand: Command = {
  name: 'attention',
  summary: 'draw what every head attends to: heatmaps (PNG/SVG), an interactive HTML page, Arrow data',
  usage: 'attnflow attention [--model DIR] "text" [--out DIR] [--token WORD] [options]',
  options: {
    model: { type: 'string', short: 'm' }, out: { type: 'string', short: 'o' }, format: { type: 'string' },
    token: { type: 'string' }, layer: { type: 'string' }, head: { type: 'string' }, target: { type: 'string' }, workers: { type: 'string' },
  },
  help: `Writes, for each attention stack of the model (encoder self-attention; GPT-2's causal self-attention;
for encoder-decoders also the decoder's and the cross-attention source × target):
  attention-<stack>.png / .svg    a heatmap per layer × head, tokens on both axes, colour legend
  attention-<stack>.html          one offline page: pick layer and head, hover for values, click a row for bars
  attention-<stack>.arrow         the weights in long form: layer, head, query, key, tokens, weight
  attention-<stack>-<token>.png/.svg  with --token: that token's attention as bars (--layer, --head)
Options:
  -m, --model DIR       model directory (default: the embedded mini-bert-mlm)
  -o, --out DIR         where to write (default out/attention)
  --format LIST         any of png,svg,html,arrow (default all)
  --token WORD          also draw this token's attention as a bar chart
  --layer N, --head N   which layer/head the bar chart shows (default 0, 0)
  --target TEXT         encoder-decoders: the output to attend from (default: the model's own greedy output)`,
  async run(v, pos) {
    if (pos.length !== 1) throw new UsageError('attention takes one text, in quotes');
    const formats = (str(v.format) ?? FORMATS.join(',')).split(',');
    for (const f of formats) if (!FORMATS.includes(f)) throw new UsageError(`--format: "${f}" is not one of ${FORMATS.join(', ')}`);
    const outDir = str(v.out) ?? 'out/attention';
    const layer = int(v.layer, 'layer') ?? 0;
    const head = int(v.head, 'head') ?? 0;
    const engine = new Engine({ workers: int(v.workers, 'workers') ?? 1 });
    try {
      const model = loadModel(modelFor('attention', str(v.model)), engine);
      const stacks = await attentionMaps(model, pos[0], { target: str(str(v.target)) });
      mkdirSync(outDir, { recursive: true });
      const written: string[] = [];
      const write = (name: string, data: string | Uint8Array) => {
        const file = join(outDir, name);
        writeFileSync(file, data);
        written.push(file);
      };
      for (const { name, maps } of stacks) {
        const title = `${name} attention — "${pos[0].length > 60 ? `${pos[0].slice(0, 57)}…` : pos[0]}"`;
        const grid = heatmapGrid(maps, { title });
        if (formats.includes('png')) write(`attention-${name}.png`, await toPng(grid));
        if (formats.includes('svg')) write(`attention-${name}.svg`, toSvg(grid));
        if (formats.includes('html')) write(`attention-${name}.html`, attentionHtml(maps, title));
        if (formats.includes('arrow')) write(`attention-${name}.arrow`, tableToIPC(attentionTable(maps), 'file'));
        const token = str(v.token);
        if (token !== undefined && name !== 'cross') {
          const bars = tokenBars(maps, findToken(maps.queryTokens, token), layer, head);
          const safe = token.replace(/[^\p{L}\p{N}_-]+/gu, '_');
          if (formats.includes('png')) write(`attention-${name}-${safe}.png`, await toPng(bars));
          if (formats.includes('svg')) write(`attention-${name}-${safe}.svg`, toSvg(bars));
        }
      }
      process.stdout.write(`${written.join('\n')}\n`);
      return EXIT.ok;
    } finally {
      await engine.close();
    }
  },
};
