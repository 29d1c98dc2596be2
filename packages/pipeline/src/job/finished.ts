import { existsSync } from 'node:fs';
import { countLines } from './durable.js';
import { arrowRows } from './parts.js';

/**
 * The counts of a run that finished (its output there, its checkpoint removed as its very last step): --resume
 * after a kill while the process exited has nothing to do, and says so with these.
 */
export async function finishedRun(output: string, deadLetter: string | undefined, sinkType: string) {
  const ok = sinkType === 'arrow' ? await arrowRows(output) : countLines(output);
  const failed = deadLetter && existsSync(deadLetter) ? countLines(deadLetter) : 0;
  return { records: ok + failed, ok, failed, tokens: 0, seconds: 0, output, deadLetter: failed ? deadLetter : undefined, interrupted: false, alreadyComplete: true };
}
