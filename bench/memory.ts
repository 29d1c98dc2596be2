import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from './common.js';

async function writeCorpus(file: string, lines: number): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < lines; i++) {
    if (!out.write(`record ${i}: attention relates every token to every other token in parallel\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Peak RSS of a whole embedding job (the real CLI in a child process) for a small and a large corpus. */
export async function memoryBench(large: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'attnflow-mem-'));
  const cli = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
  const rows: (string | number)[][] = [['lines', 'input MB', 'seconds', 'records/s', 'peak RSS MB']];
  for (const lines of [10_000, large]) {
    const input = join(dir, `in-${lines}.txt`);
    await writeCorpus(input, lines);
    const t = performance.now();
    const r = spawnSync(process.execPath, ['--import', fileURLToPath(new URL('./rss-report.mjs', import.meta.url)), cli, 'embed', '--input', input, '--output', join(dir, `out-${lines}.jsonl`), '--batch-size', '64'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const secs = (performance.now() - t) / 1000;
    const rss = /maxRSS=(\d+)/.exec(r.stderr)?.[1];
    rows.push([lines, (lines * 78) / 1e6, secs, lines / secs, rss ? Number(rss) / 1024 : `failed: ${r.stderr.slice(-200)}`]);
  }
  rmSync(dir, { recursive: true, force: true });
  return `${table(rows)}\n(mini-bert embedding job through the CLI; memory stays flat when the peak RSS does not grow with the corpus)`;
}
