import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'packages/cli/dist/main.js');

/** Runs the real attnflow CLI (built) and returns its exit code and output; `timeoutMs` (default 2 min) stops it. */
export function cli(args: string[], options: { input?: string | Buffer; cwd?: string; timeoutMs?: number } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, input: options.input, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Starts the CLI in the background (for kill / Ctrl-C tests). */
export function cliProcess(args: string[], cwd = ROOT) {
  return spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'attnflow-test-'));
}

/** Writes a pipeline YAML into dir, with the model path made absolute. */
export function writePipeline(dir: string, name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}
