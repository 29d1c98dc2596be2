import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, tempDir } from './helpers/cli.js';

/** Runs a command to completion and returns its stdout; a failure throws with its stderr. */
function run(command: string, args: string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  return r.stdout;
}

describe('attnflow as an installed package', () => {
  it('the packed workspaces install into an empty folder, and `npx attnflow embed` there matches the repository CLI', () => {
    const packs = tempDir();
    run('npm', ['pack', '--workspaces', '--pack-destination', packs, '--silent'], ROOT);
    const tarballs = readdirSync(packs).filter((f) => f.endsWith('.tgz')).map((f) => join(packs, f));
    const app = tempDir();
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'try-attnflow', private: true }));
    // Third-party dependencies come from the registry (or npm's cache); every @attnflow package from a tarball.
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', ...tarballs], app);
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> };
    const ours = Object.entries(lock.packages).filter(([path]) => path.includes('@attnflow/'));
    expect(ours.length).toBe(tarballs.length);
    for (const [path, { resolved }] of ours) expect(resolved, path).toMatch(/^file:.*\.tgz$/);

    const out = run('npx', ['--no-install', 'attnflow', 'embed', 'hello'], app);
    const lines = out.trim().split('\n');
    expect(lines.length).toBe(1);
    const row = JSON.parse(lines[0]) as { text: string; embedding: number[] };
    expect(row.text).toBe('hello');
    expect(row.embedding.length).toBeGreaterThan(0);
    expect(row.embedding.every(Number.isFinite)).toBe(true);
    // The installed CLI carries its own copy of the default model: the same bytes as the repository's CLI.
    expect(out).toBe(cli(['embed', 'hello']).stdout);
  }, 300_000);
});
