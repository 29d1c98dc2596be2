import { hex, viridis } from './colors.js';
import { checkLayerHead, headMatrix, type AttentionMaps } from './maps.js';
import { PngPainter, SvgPainter, textWidth, type Painter } from './painter.js';

interface Chart {
  width: number;
  height: number;
  draw(p: Painter): void;
}

const LABEL = 11;
const clip = (s: string, n = 16) => ([...s].length > n ? `${[...s].slice(0, n - 1).join('')}…` : s);
const pretty = (t: string) => clip(t.replace(/^Ġ/, '·').replace(/^▁/, '·'));

function legend(p: Painter, x: number, y: number, h: number): void {
  const steps = 50;
  for (let s = 0; s < steps; s++) p.rect(x, y + (h * s) / steps, 14, h / steps + 0.5, hex(viridis(1 - s / steps)));
  for (const v of [0, 0.25, 0.5, 0.75, 1]) p.text(x + 18, y + h * (1 - v) + 4, v.toFixed(2), { size: 10 });
  p.text(x + 7, y - 8, 'weight', { size: 10, anchor: 'middle' });
}

/** One heatmap per layer × head: rows are query tokens, columns key tokens, colour the softmax weight. */
export function heatmapGrid(m: AttentionMaps, options: { layers?: number[]; heads?: number[]; title?: string } = {}): Chart {
  const layers = options.layers ?? Array.from({ length: m.layers }, (_, i) => i);
  const heads = options.heads ?? Array.from({ length: m.heads }, (_, i) => i);
  for (const l of layers) for (const h of heads) checkLayerHead(m, l, h);
  const q = m.queryTokens.length;
  const k = m.keyTokens.length;
  const cell = Math.max(6, Math.min(26, Math.floor(320 / Math.max(q, k))));
  const left = Math.ceil(Math.max(...m.queryTokens.map((t) => textWidth(pretty(t), LABEL)), 10)) + 8;
  const bottom = Math.ceil(Math.max(...m.keyTokens.map((t) => textWidth(pretty(t), LABEL)), 10)) + 8;
  const panelW = left + k * cell + 16;
  const panelH = 22 + q * cell + bottom + 10;
  const top = options.title ? 30 : 8;
  const width = heads.length * panelW + 70;
  const height = top + layers.length * panelH;
  return {
    width, height,
    draw(p) {
      if (options.title) p.text(8, 20, options.title, { size: 14, bold: true });
      layers.forEach((l, li) => heads.forEach((h, hi) => {
        const x0 = hi * panelW;
        const y0 = top + li * panelH;
        p.text(x0 + left + (k * cell) / 2, y0 + 14, `layer ${l} · head ${h}`, { size: 12, anchor: 'middle', bold: true });
        const w = headMatrix(m, l, h);
        const gy = y0 + 22;
        for (let i = 0; i < q; i++)
          for (let j = 0; j < k; j++) {
            const v = w[i * k + j];
            p.rect(x0 + left + j * cell, gy + i * cell, cell, cell, hex(viridis(v)), `${m.queryTokens[i]} → ${m.keyTokens[j]}: ${v.toFixed(4)}`);
          }
        m.queryTokens.forEach((t, i) => p.text(x0 + left - 4, gy + i * cell + cell / 2 + 4, pretty(t), { size: LABEL, anchor: 'end' }));
        m.keyTokens.forEach((t, j) => p.text(x0 + left + j * cell + cell / 2 + 4, gy + q * cell + 4, pretty(t), { size: LABEL, anchor: 'end', vertical: true }));
      }));
      legend(p, width - 56, top + 40, Math.min(200, height - top - 60));
    },
  };
}

/** How much one query token attends to every key token, in one layer and head, as horizontal bars. */
export function tokenBars(m: AttentionMaps, token: number, layer: number, head: number, title?: string): Chart {
  checkLayerHead(m, layer, head);
  const k = m.keyTokens.length;
  const row = headMatrix(m, layer, head).subarray(token * k, (token + 1) * k);
  const left = Math.ceil(Math.max(...m.keyTokens.map((t) => textWidth(pretty(t), 12)))) + 12;
  const barMax = 300;
  const rowH = 22;
  const width = left + barMax + 70;
  const height = 40 + k * rowH + 10;
  const heading = title ?? `"${m.queryTokens[token]}" attends to… (layer ${layer}, head ${head})`;
  return {
    width, height,
    draw(p) {
      p.text(8, 22, heading, { size: 13, bold: true });
      const max = Math.max(...row, 1e-9);
      for (let j = 0; j < k; j++) {
        const y = 40 + j * rowH;
        p.text(left - 6, y + 15, pretty(m.keyTokens[j]), { size: 12, anchor: 'end' });
        p.rect(left, y + 3, Math.max(1, (row[j] / max) * barMax), rowH - 6, hex(viridis(row[j])), `${m.keyTokens[j]}: ${row[j].toFixed(4)}`);
        p.text(left + (row[j] / max) * barMax + 6, y + 15, row[j].toFixed(3), { size: 11 });
      }
    },
  };
}

export function toSvg(chart: Chart): string {
  const p = new SvgPainter(chart.width, chart.height);
  chart.draw(p);
  return p.toString();
}

export async function toPng(chart: Chart): Promise<Buffer> {
  const p = new PngPainter(Math.ceil(chart.width), Math.ceil(chart.height));
  chart.draw(p);
  return p.toPng();
}
