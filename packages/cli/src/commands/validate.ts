import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobFromSpec, pipelineBaseDir, readPipelineFile, workerFromSpec } from '@attnflow/pipeline';
import { EXIT, UsageError, type Command } from '../cli.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a pipeline file without running it',
  usage: 'attnflow validate <pipeline.yaml>',
  options: {},
  help: 'Checks the YAML, every key and value against the pipeline schema (errors give file:line:column\nand the allowed values), that the model directory exists and that the task suits the model.',
  async run(_v, pos) {
    if (pos.length !== 1) throw new UsageError('validate takes one pipeline file');
    const spec = readPipelineFile(pos[0]);
    const job = (spec.source.type === 'redis' ? workerFromSpec : jobFromSpec)(spec, pipelineBaseDir(pos[0]));
    const config = JSON.parse(readFileSync(join(job.model, 'config.json'), 'utf8')) as { architectures?: string[]; model_type?: string };
    process.stdout.write(`${pos[0]}: ok — task ${spec.task} with ${config.architectures?.[0] ?? config.model_type} from ${job.model}, ${spec.source.type} → ${spec.sink.type}\n`);
    return EXIT.ok;
  },
};
