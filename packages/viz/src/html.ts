import { VIRIDIS_STOPS } from './colors.js';
import type { AttentionMaps } from './maps.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * One self-contained HTML page (no network, no CDN): a heatmap for the chosen layer and head, buttons to switch
 * heads, a layer selector, the weight under the pointer, and one query token's attention as bars on click.
 */
export function attentionHtml(m: AttentionMaps, title = 'attention'): string {
  const data = {
    kind: m.kind, queryTokens: m.queryTokens, keyTokens: m.keyTokens, layers: m.layers, heads: m.heads,
    weights: Array.from(m.weights, (x) => Math.round(x * 1e5) / 1e5),
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font-family: DejaVu Sans, Verdana, sans-serif; margin: 24px; color: #222; }
.controls { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin-bottom: 12px; }
button.head { border: 1px solid #888; background: #fff; padding: 4px 10px; border-radius: 4px; cursor: pointer; }
button.head.active { background: #3b528b; color: #fff; }
#readout { font-family: monospace; min-height: 1.4em; }
#grid rect:hover { stroke: #000; stroke-width: 1.5; }
.note { color: #666; font-size: 13px; max-width: 720px; }
</style></head><body>
<h1>${esc(title)}</h1>
<p class="note">Each row is a query token, each column a key token; colour is the softmax weight with which the row's token reads the column's token (rows sum to 1). Click a row to see it as bars.</p>
<div class="controls">
  <label>layer <select id="layer"></select></label>
  <span id="heads"></span>
</div>
<div id="readout"></div>
<svg id="grid" xmlns="http://www.w3.org/2000/svg"></svg>
<svg id="bars" xmlns="http://www.w3.org/2000/svg"></svg>
<script>
const DATA = ${JSON.stringify(data)};
const STOPS = ${JSON.stringify(VIRIDIS_STOPS)};
const NS = 'http://www.w3.org/2000/svg';
let layer = 0, head = 0, row = 0;
function color(t) {
  const x = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1), i = Math.min(Math.floor(x), STOPS.length - 2), f = x - i;
  return 'rgb(' + [0, 1, 2].map((c) => Math.round(STOPS[i][c] + (STOPS[i + 1][c] - STOPS[i][c]) * f)).join(',') + ')';
}
function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function weight(l, h, i, j) {
  const q = DATA.queryTokens.length, k = DATA.keyTokens.length;
  return DATA.weights[((l * DATA.heads + h) * q + i) * k + j];
}
function drawGrid() {
  const svg = document.getElementById('grid');
  svg.innerHTML = '';
  const q = DATA.queryTokens.length, k = DATA.keyTokens.length;
  const cell = Math.max(10, Math.min(32, Math.floor(480 / Math.max(q, k))));
  const left = 12 + 7 * Math.max(...DATA.queryTokens.map((t) => t.length)), bottom = 12 + 7 * Math.max(...DATA.keyTokens.map((t) => t.length));
  svg.setAttribute('width', left + k * cell + 20);
  svg.setAttribute('height', q * cell + bottom + 10);
  for (let i = 0; i < q; i++) {
    svg.appendChild(el('text', { x: left - 6, y: i * cell + cell / 2 + 4, 'text-anchor': 'end', 'font-size': 12 }, DATA.queryTokens[i]));
    for (let j = 0; j < k; j++) {
      const w = weight(layer, head, i, j);
      const r = el('rect', { x: left + j * cell, y: i * cell, width: cell, height: cell, fill: color(w), 'data-i': i, 'data-j': j });
      r.addEventListener('mouseenter', () => (document.getElementById('readout').textContent = DATA.queryTokens[i] + ' → ' + DATA.keyTokens[j] + ': ' + w.toFixed(4)));
      r.addEventListener('click', () => { row = i; drawBars(); });
      svg.appendChild(r);
    }
  }
  for (let j = 0; j < k; j++) {
    const x = left + j * cell + cell / 2 + 4, y = q * cell + 6;
    svg.appendChild(el('text', { x, y, 'text-anchor': 'end', 'font-size': 12, transform: 'rotate(-90 ' + x + ' ' + y + ')' }, DATA.keyTokens[j]));
  }
}
function drawBars() {
  const svg = document.getElementById('bars');
  svg.innerHTML = '';
  const k = DATA.keyTokens.length, left = 12 + 7 * Math.max(...DATA.keyTokens.map((t) => t.length));
  svg.setAttribute('width', left + 380);
  svg.setAttribute('height', 36 + k * 20);
  svg.appendChild(el('text', { x: 4, y: 18, 'font-weight': 'bold', 'font-size': 13 }, '"' + DATA.queryTokens[row] + '" attends to… (layer ' + layer + ', head ' + head + ')'));
  const ws = DATA.keyTokens.map((_, j) => weight(layer, head, row, j)), max = Math.max(...ws, 1e-9);
  ws.forEach((w, j) => {
    svg.appendChild(el('text', { x: left - 6, y: 40 + j * 20, 'text-anchor': 'end', 'font-size': 12 }, DATA.keyTokens[j]));
    svg.appendChild(el('rect', { x: left, y: 28 + j * 20, width: Math.max(1, (w / max) * 300), height: 14, fill: color(w) }));
    svg.appendChild(el('text', { x: left + (w / max) * 300 + 6, y: 40 + j * 20, 'font-size': 11 }, w.toFixed(3)));
  });
}
function select(l, h) {
  layer = l; head = h;
  document.getElementById('layer').value = String(l);
  document.querySelectorAll('button.head').forEach((b) => b.classList.toggle('active', Number(b.dataset.head) === h));
  drawGrid(); drawBars();
}
const layerSelect = document.getElementById('layer');
for (let l = 0; l < DATA.layers; l++) layerSelect.appendChild(Object.assign(document.createElement('option'), { value: String(l), textContent: String(l) }));
layerSelect.addEventListener('change', () => select(Number(layerSelect.value), head));
const heads = document.getElementById('heads');
for (let h = 0; h < DATA.heads; h++) {
  const b = Object.assign(document.createElement('button'), { className: 'head', textContent: 'head ' + h, id: 'head-' + h });
  b.dataset.head = String(h);
  b.addEventListener('click', () => select(layer, h));
  heads.appendChild(b);
}
select(0, 0);
</script>
</body></html>
`;
}
