import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, readJson } from './helpers/fixtures.js';
import { cli, tempDir, writePipeline } from './helpers/cli.js';
import { python } from './helpers/python.js';

// attnflow's Arrow files read by the tools users read them with: pyarrow (C++) and DuckDB, in the test venv.
// Every task's output, nested lists and structs included, must come back from both as the same records as the
// task's JSONL output (whose numbers are float64; Arrow's float columns are float32).

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const float32 = (v: Json): Json =>
  typeof v === 'number' ? Math.fround(v) : Array.isArray(v) ? v.map(float32) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, float32(x)])) : v;
// The Arrow sink writes no `pair` column (qa's context), which JSONL lines carry: a gap of the sink, reported
// with this test; drop this exclusion when the sink writes it.
const NOT_IN_ARROW = ['pair'];
const withoutPair = (row: Json): Json => Object.fromEntries(Object.entries(row as Record<string, Json>).filter(([k]) => !NOT_IN_ARROW.includes(k)));
const jsonl = (file: string): Json[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);

const MASK = readJson<{ mask_token: string }>('bert-mlm', 'tokenizer_config.json').mask_token;
const RECORDS = [
  { text: `The 2022 Beijing ${MASK} Games`, context: 'The 2022 Winter Games were hosted by Beijing.' },
  { text: `Who hosted the ${MASK} games in 2022?`, context: 'Beijing hosted the Winter Games in 2022, fourteen years after the Summer Games.' },
];
const TASKS: [task: string, model: string, stages: string][] = [
  ['embed', 'bert', ''], ['classify', 'bert-seqcls', ''], ['ner', 'bert-tokcls', ''], ['qa', 'bert-qa', ''],
  ['fill-mask', 'bert-mlm', ''], ['generate', 'gpt2', 'stages: { decoder: { maxNewTokens: 4 } }'],
  ['translate', 'marian', 'stages: { decoder: { maxNewTokens: 4 } }'], ['summarize', 'bart', 'stages: { decoder: { maxNewTokens: 4 } }'],
  ['attention', 'bert', ''],
];

/** Reads an Arrow IPC file with pyarrow and, through DuckDB's scan of that table, with SQL. */
const READ = `
import json, sys, duckdb, pyarrow as pa
# A struct field that is null is a field the JSON line leaves out (NER's index outside aggregation none).
def bare(v):
    if isinstance(v, dict): return {k: bare(x) for k, x in v.items() if not (x is None and k == "index")}
    if isinstance(v, list): return [bare(x) for x in v]
    return v
t = pa.ipc.open_file(sys.argv[1]).read_all()
rel = duckdb.sql("SELECT * FROM t ORDER BY index")
print(json.dumps({
  "types": {f.name: str(f.type) for f in t.schema},
  "pyarrow": bare(t.to_pylist()),
  "duckdb": bare([dict(zip(rel.columns, row)) for row in rel.fetchall()]),
  "queries": {q: duckdb.sql(sql).fetchall() for q, sql in json.loads(sys.argv[2]).items()},
}))
`;

function runTask(dir: string, task: string, model: string, stages: string, sink: string): string {
  const source = task === 'qa' ? '{ type: jsonl, path: in.jsonl, pairField: context }' : '{ type: jsonl, path: in.jsonl }';
  const p = writePipeline(dir, `${task}-${sink}.yaml`, `version: 1\nmodel: ${fixture(model)}\ntask: ${task}\nsource: ${source}\n${stages}\nsink: { type: ${sink}, path: ${task}.${sink} }\n`);
  const r = cli(['run', p, '--no-progress']);
  expect(r.code, r.stderr).toBe(0);
  return join(dir, `${task}.${sink}`);
}

describe('Arrow outputs read by pyarrow and DuckDB', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.jsonl'), RECORDS.map((r) => JSON.stringify(r)).join('\n'));

  it.each(TASKS)('%s: pyarrow and DuckDB read the same records as the JSONL output', (task, model, stages) => {
    const expected = jsonl(runTask(dir, task, model, stages, 'jsonl')).map(withoutPair).map(float32);
    const queries: Record<string, string> = {
      // Nested columns through SQL: a list's length, a struct's field, unnest of a list of structs.
      ...(task === 'embed' && { width: 'SELECT DISTINCT len(embedding) FROM t' }),
      ...(task === 'classify' && { top: 'SELECT label = labels[1].label FROM t ORDER BY index' }),
      ...(task === 'ner' && { entities: 'SELECT count(*) FROM (SELECT unnest(entities) FROM t)' }),
      ...(task === 'fill-mask' && { candidates: 'SELECT count(*) FROM (SELECT unnest(m) FROM (SELECT unnest(masks) AS m FROM t))' }),
      // Every softmax row (record, layer, head, query) sums to 1.
      ...(task === 'attention' && { rows: 'SELECT max(abs(s - 1)) FROM (SELECT index, a.layer, a.head, a.query, sum(a.weight) AS s FROM (SELECT index, unnest(attention) AS a FROM t) GROUP BY ALL)' }),
    };
    const read = python<{ types: Record<string, string>; pyarrow: Json[]; duckdb: Json[]; queries: Record<string, unknown[][]> }>(READ, [runTask(dir, task, model, stages, 'arrow'), JSON.stringify(queries)]);
    expect(read.types.index).toBe('int64');
    expect(read.pyarrow).toEqual(expected);
    expect(read.duckdb).toEqual(expected);
    const rows = expected as Record<string, Json[]>[];
    if (task === 'embed') expect(read.queries.width).toEqual([[readJson<{ hidden_size: number }>(model, 'config.json').hidden_size]]);
    if (task === 'classify') expect(read.queries.top).toEqual(rows.map(() => [true]));
    if (task === 'ner') expect(read.queries.entities).toEqual([[rows.reduce((n, r) => n + r.entities.length, 0)]]);
    if (task === 'fill-mask') expect(read.queries.candidates).toEqual([[rows.reduce((n, r) => n + r.masks.flat().length, 0)]]);
    if (task === 'attention') expect(read.queries.rows[0][0]).toBeLessThan(1e-5);
  });

  it('attnflow attention --format arrow: DuckDB reads the long form, and every softmax row sums to 1', () => {
    const out = join(dir, 'attention-command');
    const r = cli(['attention', '--model', fixture('bert'), RECORDS[0].text, '--format', 'arrow', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const read = python<{ files: Record<string, { rows: number; worst: number; types: Record<string, string> }> }>(`
import glob, json, os, sys, duckdb, pyarrow as pa
files = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.arrow"))):
    t = pa.ipc.open_file(path).read_all()
    worst = duckdb.sql("SELECT max(abs(s - 1)) FROM (SELECT layer, head, query, sum(weight) AS s FROM t GROUP BY ALL)").fetchone()[0]
    files[os.path.basename(path)] = {"rows": t.num_rows, "worst": worst, "types": {f.name: str(f.type) for f in t.schema}}
print(json.dumps({"files": files}))
`, [out]);
    const files = Object.values(read.files);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(file.rows).toBeGreaterThan(0);
      expect(file.worst).toBeLessThan(1e-5);
      expect(Object.keys(file.types)).toEqual(expect.arrayContaining(['layer', 'head', 'query', 'key', 'query_token', 'key_token', 'weight']));
    }
  });

  it('a pyarrow-written Arrow file (several record batches) and stream are sources like any other', () => {
    const texts = RECORDS.flatMap((r) => [r.text, r.context]);
    python<null>(`
import json, sys, pyarrow as pa
texts = json.loads(sys.argv[1])
table = pa.table({"id": pa.array(range(len(texts)), pa.int64()), "body": pa.array(texts, pa.string())})
for path, new in ((sys.argv[2], pa.ipc.new_file), (sys.argv[3], pa.ipc.new_stream)):
    with new(path, table.schema) as w:
        for batch in table.to_batches(max_chunksize=max(1, len(texts) // 3)): w.write_batch(batch)
print("null")
`, [JSON.stringify(texts), join(dir, 'py.arrow'), join(dir, 'py-stream.arrow')]);
    writeFileSync(join(dir, 'in.txt'), `${texts.join('\n')}\n`);
    const embed = (source: string, out: string) => {
      const p = writePipeline(dir, `${out}.yaml`, `version: 1\nmodel: ${fixture('bert')}\ntask: embed\nsource: ${source}\nsink: { type: jsonl, path: ${out}.jsonl }\n`);
      const r = cli(['run', p, '--no-progress']);
      expect(r.code, r.stderr).toBe(0);
      return jsonl(join(dir, `${out}.jsonl`)).map((x) => { const { text, embedding } = x as { text: string; embedding: number[] }; return { text, embedding }; });
    };
    const fromText = embed('{ type: text, path: in.txt }', 'from-text');
    expect(fromText.map((r) => r.text)).toEqual(texts);
    expect(embed('{ type: arrow, path: py.arrow, field: body }', 'from-file')).toEqual(fromText);
    expect(embed('{ type: arrow, path: py-stream.arrow, field: body }', 'from-stream')).toEqual(fromText);
  });
});
