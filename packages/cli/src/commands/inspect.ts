import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '@attnflow/checkpoint';
import { Engine } from '@attnflow/kernels';
import { loadModel } from '@attnflow/models';
import { EXIT, UsageError, type Command } from '../cli.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'describe a model directory: architecture, parameters, tensors, tokenizer',
  usage: 'attnflow inspect <model-dir> [--tensors] [--json]',
  options: { tensors: { type: 'boolean' }, json: { type: 'boolean' } },
  help: `Loads the model (checking every tensor's name, shape and dtype against the config) and prints a summary.
Options:
  --tensors             list every tensor with its shape and dtype
  --json                machine-readable output`,
  async run(v, pos) {
    if (pos.length !== 1) throw new UsageError('inspect takes one model directory');
    const dir = pos[0];
    const ckpt = Checkpoint.open(dir);
    const tensors = [...ckpt.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype }));
    const parameters = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const engine = new Engine({ workers: 0 });
    const m = loadModel(dir, engine);
    const info = {
      dir, architecture: m.config.architecture, kind: m.kind, parameters,
      recipe: m.model.recipe,
      tokenizer: { vocabSize: m.tokenizer.vocabSize, model: m.tokenizer.model.constructor.name, file: join(dir, 'tokenizer.json'), sentenceTransformers: existsSync(join(dir, 'modules.json')) },
      ...(v.tensors === true ? { tensors } : {}),
    };
    m.model.dispose();
    await engine.close();
    if (v.json === true) {
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      return EXIT.ok;
    }
    const lines = [
      `${dir}`,
      `  architecture  ${info.architecture} (${m.kind})`,
      `  parameters    ${parameters.toLocaleString('en-US')} in ${tensors.length} tensors`,
      `  recipe        ${Object.entries(m.model.recipe).filter(([, x]) => typeof x !== 'object').map(([k, x]) => `${k}=${x}`).join(' ')}`,
      `  tokenizer     vocabulary ${m.tokenizer.vocabSize}${info.tokenizer.sentenceTransformers ? ', sentence-transformers modules.json' : ''}`,
    ];
    if (v.tensors === true) for (const t of tensors) lines.push(`    ${t.name.padEnd(60)} ${t.dtype} [${t.shape.join(', ')}]`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};
