import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ModelDType } from '@attnflow/models';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { BatchingOptions } from './batching.js';
import type { JobConfig, SinkConfig } from './job.js';
import type { FileSinkConfig } from './redis/fileSink.js';
import type { RedisSinkConfig } from './redis/sink.js';
import type { RedisSourceConfig } from './redis/source.js';
import type { SourceConfig } from './sources.js';
import { GENERATION_TASKS, HEAD_KEYS, mergeTaskOptions, type TaskName, type TaskOptions, type TaskOptionsInput } from './tasks/index.js';

/** The JSON Schema of pipeline files (also published as @attnflow/pipeline/pipeline.schema.json). */
export const PIPELINE_SCHEMA = JSON.parse(readFileSync(new URL('../pipeline.schema.json', import.meta.url), 'utf8')) as JsonSchema;

/** The parts of a JSON Schema that messages walk through. */
interface JsonSchema {
  properties?: Record<string, JsonSchema | boolean>;
  items?: JsonSchema;
  /** Keys that depend on another key (source and sink types): `properties: { key: false }` in a branch. */
  allOf?: { if: JsonSchema; then?: JsonSchema; else?: JsonSchema }[];
  [keyword: string]: unknown;
}

export interface PipelineSpec {
  version?: 1;
  model: string;
  task: TaskName;
  source: SourceConfig | RedisSourceConfig;
  stages?: Stages;
  batching?: BatchingOptions;
  /** `ids` applies to file sinks only under attnflow worker. */
  sink: (SinkConfig & Pick<FileSinkConfig, 'ids'>) | RedisSinkConfig;
  workers?: number;
  dtype?: ModelDType;
}

/**
 * `stages` of a pipeline file, in data-path order: the task's options (tokenizer, decoder, head) and the stages
 * the model configures by itself (embedding, encoder), which take no options yet.
 */
export type Stages<N extends TaskName = TaskName> = TaskOptionsInput<N> & { embedding?: Record<string, never>; encoder?: Record<string, never> };

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
  let node: unknown = path.length ? doc.getIn(path, true) : doc.contents;
  if (key !== undefined && isMap(node)) node = node.items.find((p) => isScalar(p.key) && p.key.value === key)?.key ?? node;
  const offset = isNode(node) ? node.range?.[0] : undefined;
  if (offset === undefined) return '';
  const { line, col } = lines.linePos(offset);
  return `${line}:${col}`;
}

function schemaAt(path: (string | number)[]): JsonSchema {
  let s: JsonSchema | undefined = PIPELINE_SCHEMA;
  for (const p of path) {
    const next: JsonSchema | boolean | undefined = s?.properties?.[p] ?? s?.items;
    s = typeof next === 'object' ? next : undefined;
  }
  return s ?? {};
}

/** The keys an object may have where it is: its schema's properties less those its type's branch rules out. */
function allowedKeys(schema: JsonSchema, value: unknown): string[] {
  const ruledOut = new Set<string>();
  for (const rule of schema.allOf ?? []) {
    const branch = ajv.validate(rule.if, value) ? rule.then : rule.else;
    for (const [key, allowed] of Object.entries(branch?.properties ?? {})) if (allowed === false) ruledOut.add(key);
  }
  return Object.keys(schema.properties ?? {}).filter((key) => !ruledOut.has(key));
}

function describe(e: ErrorObject, path: (string | number)[], value: unknown): { message: string; key?: string } {
  const where = path.length ? path.join('.') : 'the pipeline';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = allowedKeys(schemaAt(path), path.reduce<unknown>((v, p) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined), value));
      return { key, message: `unknown key "${key}" in ${where} (allowed: ${allowed.join(', ') || 'none'})` };
    }
    case 'required':
      return { message: `${where} needs "${(e.params as { missingProperty: string }).missingProperty}"` };
    case 'enum':
      return { message: `${where} must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` };
    case 'const':
      return { message: `${where} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    case 'false schema':
      return { message: `${where} does not apply to a ${path[0]} of this type` };
    default:
      return { message: `${where} ${e.message}` };
  }
}

/** Checks a pipeline object against the schema; problems carry file:line:col when a document is given. */
export function validatePipeline(value: unknown, file = '<pipeline>', doc?: Document, lines?: LineCounter): PipelineSpec {
  const problems: string[] = [];
  if (!validateSchema(value)) {
    for (const e of validateSchema.errors ?? []) {
      // An if/then/else failure is reported by the errors inside its branch; its own message would only repeat them.
      if (e.keyword === 'if') continue;
      const path = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
      const { message, key } = describe(e, path, value);
      const at = doc && lines ? locate(doc, lines, path, key) : '';
      problems.push(`${file}${at ? `:${at}` : ''}: ${message}`);
    }
  }
  if (problems.length) throw new PipelineError(`invalid pipeline:\n  ${[...new Set(problems)].join('\n  ')}`, [...new Set(problems)]);
  const spec = value as PipelineSpec;
  problems.push(...stageProblems(spec.task, spec.stages).map((m) => `${file}: ${m}`));
  if (problems.length) throw new PipelineError(`invalid pipeline:\n  ${problems.join('\n  ')}`, problems);
  if (spec.source.type !== 'stdin' && spec.source.type !== 'redis' && !spec.source.path) throw new PipelineError(`${file}: source needs "path" for type ${spec.source.type}`);
  if (spec.sink.type !== 'stdout' && spec.sink.type !== 'redis' && !spec.sink.path) throw new PipelineError(`${file}: sink needs "path" for type ${spec.sink.type}`);
  if (spec.source.type !== 'redis' && spec.source.messagesField !== undefined) {
    const { type, format, field, pairField } = spec.source;
    if (spec.task !== 'generate') throw new PipelineError(`${file}: source.messagesField (records that are conversations) is for task generate, not ${spec.task}`);
    if (type !== 'jsonl' && !(type === 'stdin' && format === 'jsonl')) throw new PipelineError(`${file}: source.messagesField needs a jsonl source (or stdin with format jsonl), not ${type}`);
    if (field !== undefined || pairField !== undefined) throw new PipelineError(`${file}: source.messagesField replaces source.${field !== undefined ? 'field' : 'pairField'}: a record is either a conversation or a text`);
  }
  if (spec.task === 'qa' && !spec.source.pairField) throw new PipelineError(`${file}: task qa needs source.pairField (the context column)`);
  if (spec.task === 'rerank' && !spec.source.pairField) throw new PipelineError(`${file}: task rerank needs source.pairField (the document column; field holds the query)`);
  return spec;
}

/**
 * What the schema cannot say because it depends on the task: which head options it has, and whether it decodes.
 * Shared by pipeline files and CLI flags, so both refuse the same things with the same words.
 */
export function stageProblems(task: TaskName, stages: Stages | undefined): string[] {
  const problems: string[] = [];
  const allowed: readonly string[] = HEAD_KEYS[task];
  for (const key of Object.keys(stages?.head ?? {})) {
    if (!allowed.includes(key)) problems.push(`stages.head.${key} is not an option of task ${task} (its head options: ${allowed.join(', ') || 'none'})`);
  }
  if (stages?.decoder && Object.keys(stages.decoder).length && !GENERATION_TASKS.includes(task)) {
    problems.push(`stages.decoder applies to tasks that decode (${GENERATION_TASKS.join(', ')}), not to ${task}`);
  }
  return problems;
}

/** A pipeline's stages as task options: the same names and types, nothing renamed or flattened. */
export function taskOptionsOf<N extends TaskName>(stages: Stages<N> | undefined): TaskOptions<N> {
  return mergeTaskOptions<N>({ tokenizer: stages?.tokenizer, decoder: stages?.decoder, head: stages?.head });
}

/** The settings of one task run, wherever they were written: a pipeline file, CLI flags, an API call. */
export interface TaskSettings<N extends TaskName = TaskName> {
  options: TaskOptions<N>;
  batching: BatchingOptions;
  workers?: number;
  dtype?: ModelDType;
}

const validateSettingsSchema = ajv.compile({
  type: 'object',
  additionalProperties: false,
  properties: {
    stages: PIPELINE_SCHEMA.properties?.stages, batching: PIPELINE_SCHEMA.properties?.batching,
    workers: PIPELINE_SCHEMA.properties?.workers, dtype: PIPELINE_SCHEMA.properties?.dtype,
  },
});

/**
 * Checks settings given outside a pipeline file (CLI flags) against the same schema and task rules as pipeline
 * files, so both have one set of limits; `nameOf` turns a key path (`stages.decoder.numBeams`) into the name
 * the user wrote (`--beams`).
 */
export function validateSettings<N extends TaskName>(task: N, value: unknown, nameOf: (path: string) => string): TaskSettings<N> {
  if (!validateSettingsSchema(value)) {
    const problems = (validateSettingsSchema.errors ?? []).map((e) => `${nameOf(e.instancePath.split('/').slice(1).join('.'))} ${e.message}`);
    throw new PipelineError(problems.join('\n'), problems);
  }
  // The schema has checked the shape: from here on the value is what it describes.
  const settings = value as { stages?: Stages<N>; batching?: BatchingOptions; workers?: number; dtype?: ModelDType };
  const problems = stageProblems(task, settings.stages);
  if (problems.length) throw new PipelineError(problems.join('\n'), problems);
  return { options: taskOptionsOf(settings.stages), batching: settings.batching ?? {}, workers: settings.workers, dtype: settings.dtype };
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

const pathAt = (baseDir: string) => (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : join(baseDir, p));

/** What every kind of run takes from a spec: the model directory (checked), the task, its options and batching. */
function taskOfSpec(spec: PipelineSpec, baseDir: string): Pick<JobConfig, 'model' | 'task' | 'options' | 'batching'> {
  const model = pathAt(baseDir)(spec.model)!;
  if (!existsSync(model)) throw new PipelineError(`model directory ${model} does not exist`);
  return { model, task: spec.task, options: taskOptionsOf(spec.stages), batching: spec.batching ?? {} };
}

/** Turns a validated spec into a job, with paths resolved against `baseDir` (the pipeline file's folder). */
export function jobFromSpec(spec: PipelineSpec, baseDir: string): JobConfig {
  const { source, sink } = spec;
  if (source.type === 'redis' || sink.type === 'redis') {
    throw new PipelineError(`a ${source.type === 'redis' ? 'redis source' : 'redis sink'} is served by long-running workers: attnflow worker PIPELINE.yaml (or serveStream in the API), not by a job`);
  }
  if (sink.ids !== undefined) throw new PipelineError(`sink.ids names the Redis hash of committed ids of attnflow worker; a job's checkpoint does that for a run: remove it`);
  const at = pathAt(baseDir);
  return { ...taskOfSpec(spec, baseDir), source: { ...source, path: at(source.path) }, sink: { ...sink, path: at(sink.path), deadLetter: at(sink.deadLetter) } };
}

/** The settings of a stream worker: a spec whose source is a Redis Stream, and whose sink is one too or a directory of part files. */
export interface WorkerConfig extends Pick<JobConfig, 'model' | 'task' | 'options' | 'batching'> {
  source: RedisSourceConfig;
  sink: RedisSinkConfig | FileSinkConfig;
}

/** Turns a validated spec with a redis source into a worker's settings. */
export function workerFromSpec(spec: PipelineSpec, baseDir: string): WorkerConfig {
  const { source, sink } = spec;
  if (source.type !== 'redis') throw new PipelineError(`attnflow worker serves a redis source (a stream shared by workers); this pipeline reads a ${source.type} source: use attnflow run`);
  if (sink.type === 'redis') return { ...taskOfSpec(spec, baseDir), source, sink };
  if (sink.type === 'stdout') throw new PipelineError(`attnflow worker cannot write to stdout: a record printed by a worker that dies before acknowledging it is printed again by the worker that takes it over, and printed lines cannot be taken back; use a jsonl, arrow or redis sink`);
  const at = pathAt(baseDir);
  return { ...taskOfSpec(spec, baseDir), source, sink: { ...sink, type: sink.type, path: at(sink.path)!, deadLetter: at(sink.deadLetter) } };
}

export const pipelineBaseDir = (file: string) => dirname(resolve(file));
