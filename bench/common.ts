/** Timing helpers: warm up, then report the median of repeated runs (one machine, one run, no pretence). */
export async function timeIt(fn: () => Promise<unknown> | unknown, options: { warmup?: number; runs?: number; minMs?: number } = {}): Promise<number> {
  const { warmup = 1, runs = 5, minMs = 0 } = options;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < runs || performance.now() - start < minMs) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(c < 10 ? 2 : 1)) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r, ri) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ') + (ri === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n');
}

export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

export const flag = (name: string) => process.argv.includes(`--${name}`);
