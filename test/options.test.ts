import { describe, expect, it } from 'vitest';
import { jobFromSpec, mergeTaskOptions, PipelineError, validatePipeline, validateSettings } from '@attnflow/pipeline';
import { fixture } from './helpers/fixtures.js';
import { cli } from './helpers/cli.js';

const spec = (task: string, stages: object, model = fixture('gpt2')) => ({
  version: 1, model, task, source: { type: 'text', path: 'in.txt' }, sink: { type: 'jsonl', path: 'out.jsonl' }, stages,
});

describe('one typed options model, from pipeline files, CLI flags and API calls', () => {
  it('stages reach the task as written: head.topK and decoder.topK never mix', () => {
    const gen = jobFromSpec(validatePipeline(spec('generate', { decoder: { topK: 7, doSample: true }, tokenizer: { maxLength: 9 } })), '/');
    expect(gen.options).toEqual({ tokenizer: { maxLength: 9 }, decoder: { topK: 7, doSample: true }, head: {} });
    const mask = jobFromSpec(validatePipeline(spec('fill-mask', { head: { topK: 3 } }, fixture('bert-mlm'))), '/');
    expect(mask.options).toEqual({ tokenizer: {}, decoder: {}, head: { topK: 3 } });
    const both = mergeTaskOptions<'attention'>({ head: { target: 'a' }, decoder: { topK: 5 } }, { decoder: { topK: 2 } }, { head: {} });
    expect(both).toEqual({ tokenizer: {}, decoder: { topK: 2 }, head: { target: 'a' } });
  });

  it('a setting that does not belong to the task is refused, not merged somewhere else', () => {
    expect(() => validatePipeline(spec('classify', { decoder: { topK: 2 } }, fixture('bert-seqcls')))).toThrow(/stages.decoder applies to tasks that decode/);
    expect(() => validatePipeline(spec('generate', { head: { topK: 2 } }))).toThrow(/stages.head.topK is not an option of task generate/);
  });

  it('CLI flags are checked by the pipeline schema and named in the error', () => {
    const names = (path: string) => ({ 'stages.decoder.numBeams': '--beams', 'batching.batchSize': '--batch-size' })[path] ?? path;
    expect(() => validateSettings('generate', { stages: { decoder: { numBeams: 1000 } } }, names)).toThrow(/--beams must be <= 64/);
    expect(() => validateSettings('generate', { batching: { batchSize: 100_000_000 } }, names)).toThrow(/--batch-size must be <= 4096/);
    expect(() => validateSettings('generate', { stages: { decoder: { repetitionPenalty: 0 } } }, names)).toThrow(PipelineError);
    const ok = validateSettings('generate', { stages: { decoder: { numBeams: 4 } }, workers: 1 }, names);
    expect(ok).toEqual({ options: { tokenizer: {}, decoder: { numBeams: 4 }, head: {} }, batching: {}, workers: 1 });
    const r = cli(['generate', '--model', fixture('gpt2'), '--beams', '1000', 'hello']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--beams must be <= 64/);
  });

  it('a generation length that leaves no room for a prompt is refused once, before any record', () => {
    const r = cli(['generate', '--model', fixture('gpt2'), '--max-new-tokens', '100000', 'hello']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/maxNewTokens 100000 leaves no room for a prompt: the model has \d+ positions/);
  });
});
