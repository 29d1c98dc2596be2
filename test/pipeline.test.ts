import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, tableToIPC, vectorFromArray, Table, Utf8 } from 'apache-arrow';
import { fixture } from './helpers/fixtures.js';
import { cli, tempDir, writePipeline } from './helpers/cli.js';
import { python } from './helpers/python.js';

const MODEL = fixture('bert');
const jsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

function pipeline(dir: string, source: string, sink: string, extra = ''): string {
  return writePipeline(dir, 'p.yaml', `model: ${MODEL}\ntask: embed\nsource: ${source}\nsink: ${sink}\n${extra}`);
}

describe('pipeline files through the real CLI', () => {
  const texts = ['The 2022 Beijing Winter Games', 'Self-attention lets every position attend to every other position.', 'I loved this film, it was wonderful!', 'short', 'A somewhat longer sentence about attention heads and their keys'];

  it('text source → jsonl sink: one record per line, in input order, with file and line', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), `${texts.join('\n')}\n`);
    const p = pipeline(dir, '{ type: text, path: in.txt }', '{ type: jsonl, path: out.jsonl }', 'batching: { batchSize: 2, bucketWindow: 5 }');
    const r = cli(['run', p, '--no-progress']);
    expect(r.stderr).toContain('done: 5 records (5 ok, 0 dead-lettered)');
    expect(r.code).toBe(0);
    const rows = jsonl(join(dir, 'out.jsonl'));
    expect(rows.map((x) => x.text)).toEqual(texts);
    expect(rows.map((x) => x.index)).toEqual([0, 1, 2, 3, 4]);
    expect(rows.map((x) => x.line)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[0].embedding.length).toBe(32);
  });

  it('jsonl (field path), csv (quotes, newlines in fields) and arrow sources give the same embeddings', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), `${texts.join('\n')}\n`);
    writeFileSync(join(dir, 'in.jsonl'), texts.map((t, i) => JSON.stringify({ id: i, doc: { body: t } })).join('\n'));
    writeFileSync(join(dir, 'in.csv'), `id,text\n${texts.map((t, i) => `${i},"${t.replaceAll('"', '""')}"`).join('\r\n')}\n`);
    writeFileSync(join(dir, 'in.arrow'), tableToIPC(new Table({ text: vectorFromArray(texts, new Utf8()) }), 'file'));
    const outputs: string[][] = [];
    for (const [source, name] of [['{ type: text, path: in.txt }', 'a'], ['{ type: jsonl, path: in.jsonl, field: doc.body }', 'b'], ['{ type: csv, path: in.csv, field: text }', 'c'], ['{ type: arrow, path: in.arrow }', 'd']]) {
      const p = pipeline(dir, source, `{ type: jsonl, path: ${name}.jsonl, includeText: false }`);
      const r = cli(['run', p, '--no-progress']);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(jsonl(join(dir, `${name}.jsonl`)).map((x) => JSON.stringify(x.embedding)));
    }
    for (const o of outputs.slice(1)) expect(o).toEqual(outputs[0]);
  });

  it('a record gets the same bytes in any batch: batch sizes 1, 5 and 64 write identical output', () => {
    const dir = tempDir();
    const words = ['attention', 'query', 'key', 'value', 'Beijing', 'Games', '北京', 'ünïcödé'];
    writeFileSync(join(dir, 'in.txt'), Array.from({ length: 400 }, (_, i) => Array.from({ length: 2 + ((i * 7) % 29) }, (_, j) => words[(i * 31 + j * 17) % words.length]).join(' ')).join('\n'));
    const outputs = [1, 5, 64].map((batchSize) => {
      const p = writePipeline(dir, `b${batchSize}.yaml`, `model: ${MODEL}\ntask: embed\nsource: { type: text, path: in.txt }\nbatching: { batchSize: ${batchSize}, bucketWindow: ${batchSize * 3} }\nsink: { type: jsonl, path: o${batchSize}.jsonl }\n`);
      expect(cli(['run', p, '--no-progress']).code).toBe(0);
      return readFileSync(join(dir, `o${batchSize}.jsonl`));
    });
    expect(outputs[1].equals(outputs[0])).toBe(true);
    expect(outputs[2].equals(outputs[0])).toBe(true);
  });

  it('csv quoting: delimiters, doubled quotes and newlines inside quoted fields', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.csv'), 'text;n\n"a; b ""quoted""\nsecond line";1\nplain;2\n');
    const p = pipeline(dir, '{ type: csv, path: in.csv, delimiter: ";" }', '{ type: jsonl, path: o.jsonl }');
    expect(cli(['run', p, '--no-progress']).code).toBe(0);
    expect(jsonl(join(dir, 'o.jsonl')).map((x) => x.text)).toEqual(['a; b "quoted"\nsecond line', 'plain']);
  });

  it('a glob of files is read in sorted order with global indices', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'b.txt'), 'three\nfour\n');
    writeFileSync(join(dir, 'a.txt'), 'one\ntwo\n');
    const p = pipeline(dir, '{ type: text, path: "*.txt" }', '{ type: jsonl, path: o.jsonl }');
    expect(cli(['run', p, '--no-progress']).code).toBe(0);
    const rows = jsonl(join(dir, 'o.jsonl'));
    expect(rows.map((x) => [x.index, x.text, x.line])).toEqual([[0, 'one', 1], [1, 'two', 2], [2, 'three', 1], [3, 'four', 2]]);
  });

  it('stdin source and stdout sink', () => {
    const dir = tempDir();
    const p = pipeline(dir, '{ type: stdin }', '{ type: stdout }');
    const r = cli(['run', p, '--no-progress'], { input: 'hello\nworld\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).text)).toEqual(['hello', 'world']);
  });

  it('arrow sink: an IPC file with typed columns that reads back equal to the JSONL output', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), `${texts.join('\n')}\n`);
    expect(cli(['run', pipeline(dir, '{ type: text, path: in.txt }', '{ type: arrow, path: out.arrow }'), '--no-progress']).code).toBe(0);
    expect(cli(['run', writePipeline(dir, 'q.yaml', `model: ${MODEL}\ntask: embed\nsource: { type: text, path: in.txt }\nsink: { type: jsonl, path: out.jsonl }\n`), '--no-progress']).code).toBe(0);
    const bytes = readFileSync(join(dir, 'out.arrow'));
    expect(bytes.subarray(0, 6).toString()).toBe('ARROW1');
    const table = tableFromIPC(bytes);
    expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(['index: Int64', 'file: Utf8', 'line: Int32', 'text: Utf8', 'embedding: FixedSizeList[32]<Float32>']);
    const rows = jsonl(join(dir, 'out.jsonl'));
    expect(table.numRows).toBe(rows.length);
    for (let i = 0; i < rows.length; i++) {
      expect(Array.from(table.getChild('embedding')!.get(i)!.toArray() as Float32Array)).toEqual(rows[i].embedding.map((x: number) => Math.fround(x)));
      expect(table.getChild('text')!.get(i)).toBe(rows[i].text);
    }
    // An independent reader (pyarrow, C++) opens the same file: the format, not just our own round trip.
    const read = python<{ rows: number; types: string[]; first: { text: string; embedding: number[] } }>(
      'import json, sys, pyarrow as pa\nt = pa.ipc.open_file(sys.argv[1]).read_all()\nprint(json.dumps({"rows": t.num_rows, "types": [str(f.type) for f in t.schema], "first": t.slice(0, 1).to_pylist()[0]}))',
      [join(dir, 'out.arrow')]);
    expect(read.rows).toBe(rows.length);
    expect(read.types).toEqual(['int64', 'string', 'int32', 'string', `fixed_size_list<item: float not null>[${rows[0].embedding.length}]`]);
    expect(read.first.text).toBe(rows[0].text);
    expect(read.first.embedding).toEqual(rows[0].embedding.map((x: number) => Math.fround(x)));
  });

  it('bad records go to the dead-letter file with their reason; the job goes on and exits 3', () => {
    const dir = tempDir();
    const bad = Buffer.concat([Buffer.from('good one\n\nbad \xff utf8 follows\n', 'latin1'), Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28, 0x0a]), Buffer.from(`good two\n${'word '.repeat(200)}\n`)]);
    writeFileSync(join(dir, 'in.txt'), bad);
    const p = pipeline(dir, '{ type: text, path: in.txt }', '{ type: jsonl, path: o.jsonl }', 'stages: { tokenizer: { maxLength: 64, truncation: false } }');
    const r = cli(['run', p, '--no-progress']);
    expect(r.code).toBe(3);
    const ok = jsonl(join(dir, 'o.jsonl'));
    const dead = jsonl(join(dir, 'o.jsonl.dead-letter.jsonl'));
    expect(ok.map((x) => x.text)).toEqual(['good one', 'good two']);
    expect(dead.map((x) => [x.line, x.error.split(':')[0]])).toEqual([[2, 'empty text'], [3, 'invalid UTF-8'], [4, 'invalid UTF-8'], [6, 'record 5']]);
    expect(dead[3].error).toMatch(/more than maxLength 64 \(truncation is off\)/);
    expect(r.stderr).toMatch(/2 ok, 4 dead-lettered/);
  });

  it('jsonl rows that do not parse or lack the field are dead-lettered', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.jsonl'), '{"text": "fine"}\n{"text": \n{"other": 1}\n{"text": 5}\n');
    const r = cli(['run', pipeline(dir, '{ type: jsonl, path: in.jsonl }', '{ type: jsonl, path: o.jsonl }'), '--no-progress']);
    expect(r.code).toBe(3);
    expect(jsonl(join(dir, 'o.jsonl.dead-letter.jsonl')).map((x) => x.error)).toEqual([
      expect.stringMatching(/^invalid JSON/), 'no field "text"', 'field "text" is number, expected a string',
    ]);
  });

  it('validation: unknown keys, bad values and YAML errors name file, line, column and what is allowed', () => {
    const dir = tempDir();
    const p = writePipeline(dir, 'bad.yaml', `model: ${MODEL}\ntask: embedd\nsource:\n  type: text\n  path: x.txt\n  colour: red\nbatching: { batchsize: 3 }\nsink: { type: jsonl, path: o.jsonl }\n`);
    const r = cli(['validate', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${p}:2:7: task must be one of: embed, classify, rerank, zero-shot, ner, qa, fill-mask, generate, translate, summarize`);
    expect(r.stderr).toContain(`${p}:6:3: unknown key "colour" in source (allowed: type, path, field, pairField, messagesField, header, delimiter, format)`);
    expect(r.stderr).toContain(`${p}:7:13: unknown key "batchsize" in batching (allowed: batchSize, maxTokens, bucketWindow, maxWaitMs)`);
    const y = writePipeline(dir, 'broken.yaml', 'model: x\ntask: [embed\n');
    expect(cli(['validate', y]).stderr).toMatch(/broken\.yaml:3:1: /);
    expect(cli(['validate', writePipeline(dir, 'm.yaml', 'task: embed\nsource: {type: text, path: a}\nsink: {type: stdout}\n')]).stderr).toContain('the pipeline needs "model"');
  });

  it('an existing output is not overwritten by accident', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), 'a\n');
    const p = pipeline(dir, '{ type: text, path: in.txt }', '{ type: jsonl, path: o.jsonl }');
    expect(cli(['run', p, '--no-progress']).code).toBe(0);
    const again = cli(['run', p, '--no-progress']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; pass --overwrite/);
    expect(cli(['run', p, '--no-progress', '--overwrite']).code).toBe(0);
  });

  it('--shard i/n: the parts together are the single-machine output', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), Array.from({ length: 23 }, (_, i) => `line number ${i}`).join('\n'));
    const p = pipeline(dir, '{ type: text, path: in.txt }', '{ type: jsonl, path: all.jsonl }');
    expect(cli(['run', p, '--no-progress']).code).toBe(0);
    const parts = [0, 1, 2].flatMap((i) => {
      expect(cli(['run', p, '--no-progress', '--shard', `${i}/3`, '--output', join(dir, `part${i}.jsonl`)]).code).toBe(0);
      return jsonl(join(dir, `part${i}.jsonl`));
    });
    expect(parts.sort((a, b) => a.index - b.index)).toEqual(jsonl(join(dir, 'all.jsonl')));
    expect(existsSync(join(dir, 'part0.jsonl.checkpoint.json'))).toBe(false);
  });
});
