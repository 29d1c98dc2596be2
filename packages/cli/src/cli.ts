import { MODEL_DTYPES, type ModelDType } from '@attnflow/models';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes: documented in `attnflow --help` and the README. */
export const EXIT = { ok: 0, failed: 1, usage: 2, deadLettered: 3, interrupted: 130 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parsed flags, as node:util's parseArgs gives them. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A flag that takes one value (strings only: parseArgs gives booleans for boolean flags). */
export const str = (x: Values[string]): string | undefined => (typeof x === 'string' ? x : undefined);

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Lines of option help, aligned by hand. */
  help: string;
  run(values: Values, positionals: string[]): Promise<number>;
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

export const int = (raw: Values[string], name: string, min = 0): number | undefined => {
  const v = str(raw);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
};

/** --dtype: how the model computes (fp32, q8 or q4), as the pipeline file's `dtype`. */
export const dtypeFlag = (raw: Values[string]): ModelDType | undefined => {
  const v = str(raw);
  if (v === undefined) return undefined;
  const known = MODEL_DTYPES.find((d) => d === v);
  if (!known) throw new UsageError(`--dtype must be one of ${MODEL_DTYPES.join(', ')}, got "${v}"`);
  return known;
};

export const DTYPE_HELP = '  --dtype fp32|q8|q4    fp32: float weights as stored (default); q8: linear layers in 8 bits; q4: in 4 bits\n';

export const num = (raw: Values[string], name: string): number | undefined => {
  const v = str(raw);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  return n;
};
