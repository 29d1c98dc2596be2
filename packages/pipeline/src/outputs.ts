import { Field, FixedSizeList, Float32, Int32, Int64, List, Struct, Table, Utf8, makeData, makeVector, vectorFromArray, type DataType, type Vector } from 'apache-arrow';
import type { LoadedModel } from '@attnflow/models';
import type { TaskName, TaskResults } from './tasks/index.js';

/** One finished record: where it came from and what the task produced (or why it failed). */
export interface OutputRow<R = TaskResults[TaskName]> {
  /** Position in the whole input (global, also across shards). */
  index: number;
  file: string;
  line: number;
  text: string;
  pair?: string;
  result?: R;
  error?: string;
}

/** The JSON object of one output line: identity, then the task's fields. */
export function jsonRecord(row: OutputRow, includeText: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { index: row.index, file: row.file, line: row.line };
  if (includeText) out.text = row.text;
  if (includeText && row.pair !== undefined) out.pair = row.pair;
  return Object.assign(out, resultFields(row.result));
}

/** A task's result as JSON fields (vectors as arrays). */
export function resultFields(result: TaskResults[TaskName] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result ?? {})) out[k] = v instanceof Float32Array ? Array.from(v) : v;
  return out;
}

export function deadLetterRecord(row: OutputRow): Record<string, unknown> {
  return { index: row.index, file: row.file, line: row.line, error: row.error, text: row.text };
}

const f = (name: string, type: DataType) => new Field(name, type, true);
const list = (type: DataType) => new List(f('item', type));

type Columns<N extends TaskName> = (results: TaskResults[N][], dim: number) => Record<string, Vector>;

const generated: Columns<'generate' | 'translate' | 'summarize'> = (rs) => ({
  generated: vectorFromArray(rs.map((x) => x.generated), new Utf8()),
  tokens: vectorFromArray(rs.map((x) => x.tokens), list(new Int32())),
});

const labelled: Columns<'classify' | 'zero-shot'> = (rs) => ({
  label: vectorFromArray(rs.map((x) => x.label), new Utf8()),
  score: vectorFromArray(rs.map((x) => x.score), new Float32()),
  labels: vectorFromArray(rs.map((x) => x.labels), list(new Struct([f('label', new Utf8()), f('score', new Float32())]))),
});

const answerStruct = new Struct([f('answer', new Utf8()), f('score', new Float32()), f('start', new Int32()), f('end', new Int32())]);

/** The typed Arrow columns of each task's results. */
const COLUMNS: { [N in TaskName]: Columns<N> } = {
  embed: (rs, dim) => {
    const values = new Float32Array(rs.length * dim);
    rs.forEach((x, i) => values.set(x.embedding, i * dim));
    const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
    return { embedding: makeVector(makeData({ type: new FixedSizeList(dim, new Field('item', new Float32(), false)), length: rs.length, nullCount: 0, child })) };
  },
  classify: labelled,
  rerank: (rs) => ({
    score: vectorFromArray(rs.map((x) => x.score), new Float32()),
    scores: vectorFromArray(rs.map((x) => x.scores), list(new Float32())),
  }),
  'zero-shot': labelled,
  ner: (rs) => ({
    // `index` exists only with aggregation none: null elsewhere, as the JSON line leaves it out.
    entities: vectorFromArray(rs.map((x) => x.entities.map((e) => ({ ...e, index: e.index ?? null }))), list(new Struct([f('group', new Utf8()), f('score', new Float32()), f('word', new Utf8()), f('start', new Int32()), f('end', new Int32()), f('index', new Int32())]))),
  }),
  qa: (rs) => ({
    answer: vectorFromArray(rs.map((x) => x.answer), new Utf8()),
    score: vectorFromArray(rs.map((x) => x.score), new Float32()),
    start: vectorFromArray(rs.map((x) => ('start' in x ? x.start : null)), new Int32()),
    end: vectorFromArray(rs.map((x) => ('end' in x ? x.end : null)), new Int32()),
    answers: vectorFromArray(rs.map((x) => x.answers), list(answerStruct)),
  }),
  'fill-mask': (rs) => ({
    masks: vectorFromArray(rs.map((x) => x.masks), list(list(new Struct([f('tokenId', new Int32()), f('token', new Utf8()), f('score', new Float32()), f('sequence', new Utf8())])))),
  }),
  attention: (rs) => ({
    tokens: vectorFromArray(rs.map((x) => x.tokens), list(new Utf8())),
    attention: vectorFromArray(rs.map((x) => x.attention), list(new Struct([f('layer', new Int32()), f('head', new Int32()), f('query', new Int32()), f('key', new Int32()), f('weight', new Float32())]))),
  }),
  generate: generated,
  translate: generated,
  summarize: generated,
};

/** The width of a model's embeddings (the Arrow embedding column's list size); 0 for models that embed nothing. */
export const embeddingWidth = (model: LoadedModel) => (model.kind === 'encoder' ? model.model.recipe.hiddenSize : 0);

function resultColumns<N extends TaskName>(task: N, results: TaskResults[N][], dim: number): Record<string, Vector> {
  const build: Columns<N> = COLUMNS[task];
  return build(results, dim);
}

/** A record batch: the identity columns given, the text (unless left out), then the task's columns (dim: embedding width). */
export function resultTable<N extends TaskName>(task: N, identity: Record<string, Vector>, texts: string[] | undefined, results: TaskResults[N][], dim: number): Table {
  return new Table({ ...identity, ...(texts ? { text: vectorFromArray(texts, new Utf8()) } : {}), ...resultColumns(task, results, dim) });
}

/** A record batch of finished rows: index (Int64), file, line, text, then the task's columns (dim: embedding width). */
export function arrowTable<N extends TaskName>(task: N, rows: OutputRow<TaskResults[N]>[], includeText: boolean, dim: number): Table {
  const identity: Record<string, Vector> = {
    index: vectorFromArray(rows.map((x) => BigInt(x.index)), new Int64()),
    file: vectorFromArray(rows.map((x) => x.file), new Utf8()),
    line: vectorFromArray(rows.map((x) => x.line), new Int32()),
  };
  return resultTable(task, identity, includeText ? rows.map((x) => x.text) : undefined, rows.map((row) => row.result!), dim);
}
