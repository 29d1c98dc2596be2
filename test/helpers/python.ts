import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

/** The Python of the test venv, with pyarrow and DuckDB (test/setup.sh, run by `npm test`, makes it). */
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/**
 * Runs a Python program in the test venv with `args` as sys.argv[1:] and returns what it prints, parsed as
 * JSON: how the tests read attnflow's Arrow files with the readers users use (pyarrow, DuckDB).
 */
export function python<T>(program: string, args: string[] = []): T {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run \`bash test/setup.sh\` (npm test runs it first)`);
  const r = spawnSync(PYTHON, ['-c', program, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`python exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
