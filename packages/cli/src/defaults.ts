import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './cli.js';

/**
 * The small models shipped with the CLI, one per task, so every command works offline: the build copies the
 * repository's pipelines/models/ into dist/models/ (scripts/copy-models.mjs), so the packed package carries them.
 */
export const EMBEDDED_MODELS_DIR = fileURLToPath(new URL('./models/', import.meta.url));

const DEFAULTS: Record<string, string> = {
  embed: 'mini-bert', classify: 'mini-bert-sentiment', ner: 'mini-bert-ner', qa: 'mini-bert-qa', 'fill-mask': 'mini-bert-mlm',
  generate: 'mini-gpt2', translate: 'mini-marian', summarize: 'mini-bart', attention: 'mini-bert-mlm', explain: 'mini-bert-mlm',
};

/** The --model given, else the embedded model for the task. */
export function modelFor(task: string, given: string | undefined): string {
  if (given) return given;
  if (!DEFAULTS[task]) throw new UsageError(`${task} needs --model DIR (no model for it is embedded)`);
  const dir = `${EMBEDDED_MODELS_DIR}${DEFAULTS[task]}`;
  if (!existsSync(dir)) throw new UsageError(`no --model given and the embedded model ${dir} is missing`);
  return dir;
}
