import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import type { BatchingOptions } from './batching.js';
import type { JobConfig, SinkConfig } from './job.js';
import type { SourceConfig } from './sources.js';
import type { TaskName } from './tasks/index.js';

/** The JSON Schema of pipeline files (also published as @attnflow/pipeline/pipeline.schema.json). */
export const PIPELINE_SCHEMA = JSON.parse(readFileSync(new URL('../pipeline.schema.json', import.meta.url), 'utf8')) as Record<string, any>;

export interface PipelineSpec {
  version?: 1;
  model: string;
  task: TaskName;
  source: SourceConfig;
  stages?: {
    tokenizer?: { maxLength?: number; truncation?: boolean };
    embedding?: Record<string, never>;
    encoder?: Record<string, never>;
    decoder?: Record<string, unknown>;
    head?: { pooling?: 'mean' | 'cls' | 'max'; normalize?: boolean; topK?: number; maxAnswerTokens?: number };
  };
  batching?: BatchingOptions;
  sink: SinkConfig;
  workers?: number;
}

export class PipelineError extends Error {
  override name = 'PipelineError';
  constructor(message: string, readonly problems: string[] = [message]) {
    super(message);
  }
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateSchema = ajv.compile(PIPELINE_SCHEMA);

/** Where in the file a path of keys points (1-based line:column), for error messages. */
function locate(doc: Document, lines: LineCounter, path: (string | number)[], key?: string): string {
  let node: any = path.length ? doc.getIn(path, true) : doc.contents;
  if (key !== undefined && isMap(node)) node = node.items.find((p: any) => p.key?.value === key)?.key ?? node;
  const offset = node?.range?.[0];
  if (offset === undefined) return '';
  const { line, col } = lines.linePos(offset);
  return `${line}:${col}`;
}

function schemaAt(path: (string | number)[]): Record<string, any> {
  let s = PIPELINE_SCHEMA;
  for (const p of path) s = s?.properties?.[p] ?? s?.items ?? {};
  return s;
}

function describe(e: ErrorObject, path: (string | number)[]): { message: string; key?: string } {
  const where = path.length ? path.join('.') : 'the pipeline';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(schemaAt(path).properties ?? {});
      return { key, message: `unknown key "${key}" in ${where} (allowed: ${allowed.join(', ') || 'none'})` };
    }
    case 'required':
      return { message: `${where} needs "${(e.params as { missingProperty: string }).missingProperty}"` };
    case 'enum':
      return { message: `${where} must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` };
    case 'const':
      return { message: `${where} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    default:
      return { message: `${where} ${e.message}` };
  }
}

/** Checks a pipeline object against the schema; problems carry file:line:col when a document is given. */
export function validatePipeline(value: unknown, file = '<pipeline>', doc?: Document, lines?: LineCounter): PipelineSpec {
  const problems: string[] = [];
  if (!validateSchema(value)) {
    for (const e of validateSchema.errors ?? []) {
      const path = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
      const { message, key } = describe(e, path);
      const at = doc && lines ? locate(doc, lines, path, key) : '';
      problems.push(`${file}${at ? `:${at}` : ''}: ${message}`);
    }
  }
  if (problems.length) throw new PipelineError(`invalid pipeline:\n  ${[...new Set(problems)].join('\n  ')}`, [...new Set(problems)]);
  const spec = value as PipelineSpec;
  if (spec.source.type !== 'stdin' && !spec.source.path) throw new PipelineError(`${file}: source needs "path" for type ${spec.source.type}`);
  if (spec.sink.type !== 'stdout' && !spec.sink.path) throw new PipelineError(`${file}: sink needs "path" for type ${spec.sink.type}`);
  if (spec.task === 'qa' && !spec.source.pairField) throw new PipelineError(`${file}: task qa needs source.pairField (the context column)`);
  return spec;
}

/** Reads and validates a pipeline file: YAML syntax errors and schema errors name the line and column. */
export function readPipelineFile(file: string): PipelineSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PipelineError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    const problems = doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? '?'}:${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0]}`);
    throw new PipelineError(`invalid YAML:\n  ${problems.join('\n  ')}`, problems);
  }
  return validatePipeline(doc.toJS(), file, doc, lines);
}

/** Turns a validated spec into a job, with paths resolved against `baseDir` (the pipeline file's folder). */
export function jobFromSpec(spec: PipelineSpec, baseDir: string): JobConfig {
  const at = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : join(baseDir, p));
  const st = spec.stages ?? {};
  const options: Record<string, unknown> = { ...st.decoder, ...st.head };
  if (st.tokenizer?.maxLength !== undefined) {
    options.maxLength = st.tokenizer.maxLength;
    options.maxInputTokens = st.tokenizer.maxLength;
  }
  if (st.tokenizer?.truncation !== undefined) options.truncation = st.tokenizer.truncation;
  const model = at(spec.model)!;
  if (!existsSync(model)) throw new PipelineError(`model directory ${model} does not exist`);
  return {
    model,
    task: spec.task,
    source: { ...spec.source, path: at(spec.source.path) },
    sink: { ...spec.sink, path: at(spec.sink.path), deadLetter: at(spec.sink.deadLetter) },
    options,
    batching: spec.batching ?? {},
  };
}

export const pipelineBaseDir = (file: string) => dirname(resolve(file));
