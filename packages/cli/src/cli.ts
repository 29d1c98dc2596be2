import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes: documented in `attnflow --help` and the README. */
export const EXIT = { ok: 0, failed: 1, usage: 2, deadLettered: 3, interrupted: 130 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Lines of option help, aligned by hand. */
  help: string;
  run(values: Record<string, any>, positionals: string[]): Promise<number>;
}

export function parse(cmd: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/^TypeError \[\w+\]: /, '')}\nRun "attnflow ${cmd.name} --help" for the options.`);
  }
}

export function commandHelp(cmd: Command): string {
  return `attnflow ${cmd.name} — ${cmd.summary}\n\nUsage: ${cmd.usage}\n\n${cmd.help.trimEnd()}\n  -h, --help            this help\n`;
}

export const int = (v: string | undefined, name: string, min = 0): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
};

export const num = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  return n;
};
