import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { JobError } from './durable.js';

export interface SinkPaths {
  output?: string;
  deadLetter?: string;
  checkpoint?: string;
  /** Arrow sink: the committed record batches, joined into the output at the end. */
  parts?: string;
}

/** Output file paths a job writes, derived once. */
export function sinkPaths(sink: { type: 'jsonl' | 'arrow' | 'stdout'; path?: string; deadLetter?: string }): SinkPaths {
  if (sink.type === 'stdout') return { deadLetter: sink.deadLetter };
  if (!sink.path) throw new JobError(`a ${sink.type} sink needs a "path"`);
  return {
    output: sink.path,
    deadLetter: sink.deadLetter ?? `${sink.path}.dead-letter.jsonl`,
    checkpoint: `${sink.path}.checkpoint.json`,
    parts: sink.type === 'arrow' ? `${sink.path}.parts` : undefined,
  };
}

/** The real path of a file that may not exist yet (its directory resolved, if that exists). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** Refuses, before anything is opened, a job whose outputs would overwrite one of its own inputs. */
export function refuseSourceAsSink(inputs: readonly string[], p: SinkPaths): void {
  const written = new Map(Object.values(p).filter((f): f is string => f !== undefined).map((f) => [realPath(f), f]));
  for (const input of inputs) {
    const clash = written.get(realPath(input));
    if (clash) throw new JobError(`${input}: the source is also an output of this job (${clash}); writing it would destroy the input: choose another output path`);
  }
}
