/**
 * Checkpoints in the file layouts the Hub ships (test/fixtures/hub, see its README): every case of every
 * expected.json, with every text, size and option read from the fixture files.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Aggregation } from '@attnflow/head';
import { loadModel } from '@attnflow/models';
import { answer, checkTask, classify, embed, extractEntities, fillMask, generate, rerank, scorePairs, mergeTaskOptions, readPipelineFile, summarize, translate, zeroShot } from '@attnflow/pipeline';
import { Tokenizer, toCodePointOffsets } from '@attnflow/tokenizer';
import { expectClose, fixture, maxAbsDiff, readExpected, readJson } from './helpers/fixtures.js';

const hub = (...parts: string[]) => fixture('hub', ...parts);
const expected = (name: string) => readJson('hub', name, 'expected.json');

describe('hub layouts: every listed file and nothing else', () => {
  for (const name of readdirSync(hub()).filter((n) => !n.includes('.'))) {
    it(name, () => {
      const exp = expected(name);
      const present = readdirSync(hub(name), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
      for (const f of exp.files as string[]) expect(present).toContain(f.split('/').pop());
    });
  }
});

describe('tokenizers from vocabulary files (no tokenizer.json)', () => {
  it('bert-vocab-only: vocab.txt + tokenizer_config.json casing', () => {
    const exp = expected('bert-vocab-only');
    const tok = Tokenizer.fromDirectory(hub('bert-vocab-only'));
    for (const o of exp.cases.encode.outputs) {
      const e = tok.encode(o.text);
      expect(e.ids, o.text).toEqual(o.input_ids);
      expect(e.tokens, o.text).toEqual(o.tokens);
      expect(toCodePointOffsets(o.text, e.offsets), o.text).toEqual(o.offsets);
      expect(e.typeIds).toEqual(o.token_type_ids);
      expect(tok.decode(e.ids), o.text).toEqual(o.decoded);
    }
  });

  it('bert-vocab-only: pairs, truncation and overflow windows', () => {
    const exp = expected('bert-vocab-only');
    const tok = Tokenizer.fromDirectory(hub('bert-vocab-only'));
    const p = exp.cases.pair;
    const e = tok.encode(p.a, p.b);
    expect(e.ids).toEqual(p.input_ids);
    expect(e.typeIds).toEqual(p.token_type_ids);
    const t = exp.cases.pair_truncation;
    for (const o of t.outputs) {
      const cut = tok.encode(t.a, t.b, { maxLength: o.max_length, truncation: o.truncation });
      expect(cut.ids, `${o.truncation} ${o.max_length}`).toEqual(o.input_ids);
      expect(cut.typeIds).toEqual(o.token_type_ids);
    }
    const ov = t.overflow;
    // The overflow case records its settings only in the call it made.
    const arg = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(ov.call)![1]);
    const windows = tok.encodeWindows(t.a, t.b, { maxLength: arg('max_length'), stride: arg('stride') });
    expect(windows.map((w) => w.ids)).toEqual(ov.input_ids);
    expect(windows.map((w) => w.typeIds)).toEqual(ov.token_type_ids);
  });

  it('marian-spm: source.spm pieces numbered by vocab.json, </s> appended', () => {
    const exp = expected('marian-spm');
    const tok = Tokenizer.fromDirectory(hub('marian-spm'));
    for (const o of exp.cases.tokenizer.outputs) {
      const e = tok.encode(o.text);
      expect(e.tokens, o.text).toEqual(o.tokens);
      expect(e.ids, o.text).toEqual(o.input_ids);
    }
    for (const o of exp.cases.generate.outputs) expect(tok.decode(o.generated_ids)).toEqual(o.decoded);
  });

  it('t5-prefix: spiece.model with sentinels', () => {
    const exp = expected('t5-prefix');
    const tok = Tokenizer.fromDirectory(hub('t5-prefix'));
    expect(tok.vocabSize).toBe(exp.cases.tokenizer.len_tokenizer);
    for (const o of exp.cases.tokenizer.outputs) {
      const e = tok.encode(o.text);
      // The recorded tokens are convert_ids_to_tokens(input_ids): an unknown piece shows as <unk>.
      expect(e.ids.map((id) => tok.idToToken(id)), o.text).toEqual(o.tokens);
      expect(e.ids, o.text).toEqual(o.input_ids);
    }
    for (const key of ['generate_summarization', 'generate_translation_en_to_de']) {
      for (const o of exp.cases[key].outputs) expect(tok.decode(o.generated_ids)).toEqual(o.decoded);
    }
  });

  it('gpt2-vocab-only: vocab.json + merges.txt, nothing added', () => {
    const exp = expected('gpt2-vocab-only');
    const tok = Tokenizer.fromDirectory(hub('gpt2-vocab-only'));
    for (const o of exp.cases.pipeline.outputs) {
      expect(tok.encode(o.prompt).ids).toEqual(o.prompt_ids);
      expect(o.prompt + tok.decode(o.generated_token_ids.slice(o.prompt_ids.length))).toEqual(o.generated_text);
    }
  });

  it('ner-bio: cased vocab.txt with special_tokens_map.json', () => {
    const exp = expected('ner-bio');
    const tok = Tokenizer.fromDirectory(hub('ner-bio'));
    for (const o of exp.cases.tokens.outputs) {
      const e = tok.encode(o.text);
      expect(e.ids, o.text).toEqual(o.input_ids);
      expect(e.tokens).toEqual(o.tokens);
      expect(toCodePointOffsets(o.text, e.offsets)).toEqual(o.offsets);
    }
  });

  it('ner-xlmr: sentencepiece.bpe.model alone gives the ids tokenizer.json gives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnflow-xlmr-'));
    for (const f of readdirSync(hub('ner-xlmr'))) if (f !== 'tokenizer.json') cpSync(hub('ner-xlmr', f), join(dir, f));
    const tok = Tokenizer.fromDirectory(dir);
    for (const o of expected('ner-xlmr').cases.tokens.outputs) {
      const e = tok.encode(o.text);
      expect(e.ids, o.text).toEqual(o.input_ids);
      expect(toCodePointOffsets(o.text, e.offsets), o.text).toEqual(o.offsets);
    }
  });

  it('a folder without tokenizer files: the error names the folder and what was looked for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnflow-empty-'));
    writeFileSync(join(dir, 'config.json'), '{}');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(new RegExp(`${dir}: no tokenizer files found; looked for tokenizer\\.json, vocab\\.txt`));
  });
});

/** Code-point offsets of a UTF-16 span of `text` (the fixtures record Python string indices). */
const cp = (text: string, start: number, end: number) => toCodePointOffsets(text, [[start, end]])[0];

describe('sentence-transformers repos: every module of modules.json', () => {
  // Every folder with a modules.json, whatever its pooling (held-out twins add folders).
  const folders = readdirSync(hub()).filter((n) => existsSync(hub(n, 'modules.json')));
  for (const name of folders) {
    it(name, async () => {
      const c = expected(name).cases.encode;
      const ref = readExpected('hub', name, 'expected.safetensors').get('encode')!;
      const out = await embed(hub(name), c.inputs);
      expect(out.length).toBe(ref.shape[0]);
      expect(out[0].length).toBe(ref.shape[1]);
      expectClose(Float32Array.from(out.flatMap((v) => Array.from(v))), ref.data, 1e-4, name);
    });
  }

  it('a pipeline option overrides the pooling only when set', async () => {
    for (const name of folders) {
      const c = expected(name).cases.encode;
      const own = await embed(hub(name), c.inputs.slice(0, 1));
      const poolingModule = readJson('hub', name, 'modules.json').find((m: any) => m.type.endsWith('Pooling'));
      const pooling = readJson('hub', name, poolingModule.path, 'config.json').pooling_mode_cls_token ? 'max' : 'cls';
      const other = await embed(hub(name), c.inputs.slice(0, 1), { head: { pooling } });
      expect(maxAbsDiff(own[0], other[0]), name).toBeGreaterThan(1e-3);
    }
  });
});

describe('classification as the text-classification pipeline', () => {
  for (const name of ['multilabel', 'regression']) {
    it(`${name}: default function, top_k=None and function_to_apply`, async () => {
      const exp = expected(name);
      const numLabels = Object.keys(readJson('hub', name, 'config.json').id2label).length;
      for (const [key, c] of Object.entries<any>(exp.cases)) {
        const fn = /function_to_apply='(\w+)'/.exec(c.call)?.[1] as 'none' | 'softmax' | 'sigmoid' | undefined;
        const all = /top_k=None/.test(c.call);
        const got = await classify(hub(name), c.inputs, { head: { topK: all ? numLabels : 1, functionToApply: fn } });
        got.forEach((g, i) => {
          const want = all ? c.outputs[i] : [c.outputs[i]];
          expect(g.labels.map((l) => l.label), `${key} ${i}`).toEqual(want.map((w: any) => w.label));
          g.labels.forEach((l, j) => expect(Math.abs(l.score - want[j].score), `${key} ${i}`).toBeLessThanOrEqual(1e-4));
        });
      }
    });
  }
});

describe('cross-encoder: CrossEncoder.predict and rank', () => {
  const exp = expected('cross-encoder');
  it('predict with the config activation, and raw logits', async () => {
    for (const key of ['predict', 'predict_logits']) {
      const c = exp.cases[key];
      const identity = /activation_fn=torch\.nn\.Identity\(\)/.test(c.call);
      const got = await scorePairs(hub('cross-encoder'), c.inputs, { head: identity ? { activation: 'identity' } : {} });
      expectClose(got, c.outputs, 1e-4, key);
    }
  });
  it('rank, and rank with top_k and documents', async () => {
    for (const key of ['rank', 'rank_top2_docs']) {
      const c = exp.cases[key];
      const topK = /top_k=(\d+)/.exec(c.call)?.[1];
      const got = await rerank(hub('cross-encoder'), c.query, c.documents, { topK: topK ? Number(topK) : undefined, returnDocuments: /return_documents=True/.test(c.call) });
      expect(got.map((r) => r.corpusId)).toEqual(c.outputs.map((o: any) => o.corpus_id));
      expect(got.map((r) => r.text)).toEqual(c.outputs.map((o: any) => o.text));
      expectClose(got.map((r) => r.score), c.outputs.map((o: any) => o.score), 1e-4, key);
    }
  });
});

describe('NER aggregation strategies', () => {
  for (const name of readdirSync(hub()).filter((n) => n.startsWith('ner-'))) {
    const exp = expected(name);
    for (const key of Object.keys(exp.cases).filter((k) => k.startsWith('aggregation_'))) {
      it(`${name} ${key}`, async () => {
        const c = exp.cases[key];
        const aggregation = /aggregation_strategy='(\w+)'/.exec(c.call)![1] as Aggregation;
        const got = await extractEntities(hub(name), c.inputs, { head: { aggregation } });
        got.forEach((entities, i) => {
          const text = c.inputs[i];
          const want = c.outputs[i];
          expect(entities.map((e) => [aggregation === 'none' ? e.group : e.group, e.word, ...cp(text, e.start, e.end), e.index]), `${text}`).toEqual(
            want.map((w: any) => [w.entity ?? w.entity_group, w.word, w.start, w.end, w.index]),
          );
          entities.forEach((e, j) => expect(Math.abs(e.score - want[j].score)).toBeLessThanOrEqual(1e-4));
        });
      });
    }
  }
});

describe('inputs longer than the model', () => {
  it('XLM-R is cut at its real limit (positions from padding_idx + 1), never failing on a long text', async () => {
    const config = readJson('hub', 'ner-xlmr', 'config.json');
    const limit = config.max_position_embeddings - config.pad_token_id - 1;
    const text = Array.from({ length: 2 * config.max_position_embeddings }, (_, i) => (i % 2 ? 'Berlin' : 'Merkel')).join(' ');
    const [entities] = await extractEntities(hub('ner-xlmr'), [text], { head: { aggregation: 'none' } });
    expect(Math.max(...entities.map((e) => e.index!))).toBeLessThan(limit);
  });
});

describe('question answering over long contexts', () => {
  const exp = expected('qa-long');
  for (const key of ['pipeline', 'pipeline_impossible']) {
    it(key, async () => {
      const c = exp.cases[key];
      const k = c.kwargs;
      for (const [i, input] of c.inputs.entries()) {
        const got = await answer(hub('qa-long'), input.question, input.context, {
          tokenizer: { maxLength: k.max_seq_len },
          head: { docStride: k.doc_stride, maxAnswerLen: k.max_answer_len, topK: k.top_k, handleImpossibleAnswer: k.handle_impossible_answer },
        });
        const want = [c.outputs[i]].flat();
        expect(got.answers.map((a) => [a.answer, ...cp(input.context, a.start, a.end)]), input.question).toEqual(want.map((w: any) => [w.answer, w.start, w.end]));
        got.answers.forEach((a, j) => expect(Math.abs(a.score - want[j].score)).toBeLessThanOrEqual(1e-4));
      }
    });
  }
  it('the windows the pipeline scores', () => {
    const c = exp.cases.windows;
    const tok = Tokenizer.fromDirectory(hub('qa-long'));
    const k = exp.cases.pipeline.kwargs;
    // Window sets follow the pipeline's inputs, then the impossible-answer input.
    const inputs = [...exp.cases.pipeline.inputs, ...exp.cases.pipeline_impossible.inputs];
    c.outputs.forEach((o: any, j: number) => {
      expect(inputs[j].question).toBe(o.question);
      const w = tok.encodeWindows(o.question, inputs[j].context, { maxLength: k.max_seq_len, stride: k.doc_stride });
      expect(w.map((e) => e.ids)).toEqual(o.input_ids);
      expect(w.map((e) => e.typeIds)).toEqual(o.token_type_ids);
      expect(w.map((e) => e.sequenceIds)).toEqual(o.sequence_ids);
    });
  });
});

describe('fill-mask with targets', () => {
  const exp = expected('fill-mask-targets');
  for (const key of Object.keys(exp.cases)) {
    it(key, async () => {
      const c = exp.cases[key];
      const topK = Number(/top_k=(\d+)\)\(text(?:, targets=targets)?\)$/.exec(c.call)?.[1] ?? /top_k=(\d+)/.exec(c.call)![1]);
      const got = await fillMask(hub('fill-mask-targets'), c.inputs, { head: { topK, targets: c.targets } });
      got.forEach((masks, i) => {
        // One mask: a list of predictions; several: a list per mask.
        const want: any[][] = masks.length === 1 ? [c.outputs[i]] : c.outputs[i];
        masks.forEach((preds, m) => {
          expect(preds.map((p) => [p.tokenId, p.token, p.sequence])).toEqual(want[m].map((w) => [w.token, w.token_str, w.sequence]));
          preds.forEach((p, j) => expect(Math.abs(p.score - want[m][j].score)).toBeLessThanOrEqual(1e-4));
        });
      });
    });
  }
});

describe('generation as the Hub ships it: generation_config.json, task_specific_params, logits processors', () => {
  /** Generated ids as Hugging Face prints them: the decoder start token, then what was generated. */
  const withStart = (name: string, tokens: number[]) => [readJson('hub', name, 'generation_config.json').decoder_start_token_id, ...tokens];

  it('bart-cnn: beam 4, min/max length, no-repeat 3-grams, length penalty, forced BOS/EOS', async () => {
    const exp = expected('bart-cnn');
    for (const key of ['generate', 'pipeline']) {
      const c = exp.cases[key];
      const got = await summarize(hub('bart-cnn'), c.outputs.map((o: any) => o.text));
      got.forEach((g, i) => {
        const o = c.outputs[i];
        expect(withStart('bart-cnn', g.tokens), `${key} ${i}`).toEqual(o.generated_ids ?? o.summary_token_ids);
        expect(g.generated).toEqual(o.decoded ?? o.summary_text);
      });
    }
  });

  it('marian-spm: bad_words_ids, forced EOS, renormalised beam scores; one at a time and batched', async () => {
    const exp = expected('marian-spm');
    const single = exp.cases.generate.outputs;
    for (const o of single) {
      const [g] = await translate(hub('marian-spm'), [o.text]);
      expect(withStart('marian-spm', g.tokens)).toEqual(o.generated_ids);
      expect(g.generated).toEqual(o.decoded);
    }
    const batch = await translate(hub('marian-spm'), single.map((o: any) => o.text));
    const pad = readJson('hub', 'marian-spm', 'generation_config.json').pad_token_id;
    batch.forEach((g, i) => {
      const row: number[] = exp.cases.generate_batch.outputs[i];
      expect(withStart('marian-spm', g.tokens)).toEqual(row.slice(0, 1 + g.tokens.length));
      expect(row.slice(1 + g.tokens.length).every((t) => t === pad)).toBe(true);
    });
    exp.cases.pipeline.outputs.forEach((o: any, i: number) => expect(batch[i].generated).toEqual(o.translation_text));
  });

  it('t5-prefix: task_specific_params prefixes and settings per task and language pair', async () => {
    const exp = expected('t5-prefix');
    const params = readJson('hub', 't5-prefix', 'config.json').task_specific_params;
    for (const key of Object.keys(exp.cases).filter((k) => k.startsWith('generate_'))) {
      const c = exp.cases[key];
      const task = key.slice('generate_'.length);
      expect(params[task].prefix).toBe(c.prefix);
      const texts = c.outputs.map((o: any) => o.text);
      const langs = /^translation_(\w+)_to_(\w+)$/.exec(task);
      const got = langs ? await translate(hub('t5-prefix'), texts, { head: { srcLang: langs[1], tgtLang: langs[2] } }) : await summarize(hub('t5-prefix'), texts);
      got.forEach((g, i) => {
        expect(withStart('t5-prefix', g.tokens), `${key} ${i}`).toEqual(c.outputs[i].generated_ids);
        expect(g.generated).toEqual(c.outputs[i].decoded);
      });
    }
    await expect(translate(hub('t5-prefix'), ['x'])).rejects.toThrow(/several language pairs.*srcLang and tgtLang/);
  });

  it('gpt2-vocab-only: repetition penalty, no-repeat n-grams and bad words from generation_config.json', async () => {
    const c = expected('gpt2-vocab-only').cases.pipeline;
    const doSample = /do_sample=(True|False)/.exec(c.call)![1] === 'True';
    const maxNewTokens = Number(/max_new_tokens=(\d+)/.exec(c.call)![1]);
    for (const o of c.outputs) {
      const [g] = await generate(hub('gpt2-vocab-only'), [o.prompt], { decoder: { doSample, maxNewTokens } });
      expect([...o.prompt_ids, ...g.tokens]).toEqual(o.generated_token_ids);
      expect(o.prompt + g.generated).toEqual(o.generated_text);
    }
  });
});

describe('bart-mnli: zero-shot classification and NLI pairs', () => {
  const exp = expected('bart-mnli');
  for (const key of Object.keys(exp.cases).filter((k) => k.startsWith('zero_shot'))) {
    it(key, async () => {
      const c = exp.cases[key];
      const got = await zeroShot(hub('bart-mnli'), c.inputs, c.candidate_labels, { head: { multiLabel: c.kwargs.multi_label, hypothesisTemplate: c.kwargs.hypothesis_template } });
      got.forEach((g, i) => {
        expect(g.labels.map((l) => l.label), c.inputs[i]).toEqual(c.outputs[i].labels);
        expectClose(g.labels.map((l) => l.score), c.outputs[i].scores, 1e-4, key);
      });
    });
  }
  it('nli_logits: the input pairs and their raw logits', async () => {
    const tok = Tokenizer.fromDirectory(hub('bart-mnli'));
    const names: Record<string, string> = readJson('hub', 'bart-mnli', 'config.json').id2label;
    const labels = Object.keys(names).sort((a, b) => Number(a) - Number(b)).map((i) => names[i]);
    for (const o of exp.cases.nli_logits.outputs) {
      const longest = Math.max(...o.input_ids.map((r: number[]) => r.length));
      const encoded = o.hypotheses.map((h: string) => tok.encode(o.text, h).ids);
      encoded.forEach((ids: number[], j: number) => expect([...ids, ...new Array(longest - ids.length).fill(tok.padTokenId)]).toEqual(o.input_ids[j]));
      const got = await classify(hub('bart-mnli'), o.hypotheses.map((h: string) => [o.text, h] as const), { head: { topK: labels.length, functionToApply: 'none' } });
      got.forEach((g, j) => expectClose(labels.map((l) => g.labels.find((x) => x.label === l)!.score), o.logits[j], 1e-4, `logits ${j}`));
    }
  });
  it('text classification of a pair', async () => {
    const c = exp.cases.text_classification_pair;
    const numLabels = Object.keys(readJson('hub', 'bart-mnli', 'config.json').id2label).length;
    const [g] = await classify(hub('bart-mnli'), [[c.inputs.text, c.inputs.text_pair]], { head: { topK: numLabels } });
    expect(g.label).toBe(c.outputs.label);
    expect(Math.abs(g.score - c.outputs.score)).toBeLessThanOrEqual(1e-4);
    expect(g.labels.map((l) => l.label)).toEqual(c.top_k_none.map((w: any) => w.label));
    expectClose(g.labels.map((l) => l.score), c.top_k_none.map((w: any) => w.score), 1e-4, 'top_k_none');
  });
});

describe('bad input: errors name the file and the field', () => {
  /** A writable copy of a fixture folder, with some files replaced. */
  const variant = (name: string, files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), `attnflow-${name}-`));
    cpSync(hub(name), dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return dir;
  };

  it('generation_config.json that is not JSON, or has a field of the wrong type', () => {
    expect(() => loadModel(variant('gpt2-vocab-only', { 'generation_config.json': '{"num_beams": 4,' }))).toThrow(/generation_config\.json: not valid JSON/);
    const gen = readJson('hub', 'gpt2-vocab-only', 'generation_config.json');
    expect(() => loadModel(variant('gpt2-vocab-only', { 'generation_config.json': JSON.stringify({ ...gen, num_beams: 'four' }) }))).toThrow(/generation_config\.json: "num_beams" is "four"; expected a whole number/);
    expect(() => loadModel(variant('gpt2-vocab-only', { 'generation_config.json': JSON.stringify({ ...gen, bad_words_ids: [1, 2] }) }))).toThrow(/"bad_words_ids" is \[1,2\]; expected a list of lists of token ids/);
  });

  it('task_specific_params of the wrong type', async () => {
    const config = readJson('hub', 't5-prefix', 'config.json');
    const bad = { ...config, task_specific_params: { ...config.task_specific_params, summarization: { ...config.task_specific_params.summarization, num_beams: 2.5 } } };
    const dir = variant('t5-prefix', { 'config.json': JSON.stringify(bad) });
    await expect(summarize(dir, ['x'])).rejects.toThrow(/config\.json task_specific_params\.summarization: "num_beams" is 2\.5/);
  });

  it('a Dense module with an activation attnflow does not know', async () => {
    const cfg = readJson('hub', 'st-mean-dense-normalize', '2_Dense', 'config.json');
    const dir = variant('st-mean-dense-normalize', { '2_Dense/config.json': JSON.stringify({ ...cfg, activation_function: 'mylib.Swish' }) });
    expect(() => loadModel(dir)).toThrow(/2_Dense\/config\.json: "activation_function" is "mylib\.Swish"/);
  });

  it('conflicting or missing options', async () => {
    const langs = Object.keys(readJson('hub', 't5-prefix', 'config.json').task_specific_params).filter((k) => k.startsWith('translation_'));
    const src = /^translation_(\w+)_to_/.exec(langs[0])![1];
    await expect(translate(hub('t5-prefix'), ['x'], { head: { srcLang: src } })).rejects.toThrow(/give both srcLang and tgtLang/);
    await expect(translate(hub('t5-prefix'), ['x'], { head: { srcLang: src, tgtLang: 'xx' } })).rejects.toThrow(/task_specific_params has no "translation_\w+_to_xx"/);
    const model = loadModel(hub('bart-mnli'));
    expect(() => checkTask(model, 'zero-shot', mergeTaskOptions<'zero-shot'>({}))).toThrow(/candidateLabels/);
    expect(() => checkTask(model, 'zero-shot', mergeTaskOptions<'zero-shot'>({ head: { candidateLabels: ['a'], hypothesisTemplate: 'no slot' } }))).toThrow(/no \{\} where the label goes/);
    const tok = Tokenizer.fromDirectory(hub('qa-long'));
    expect(() => tok.encodeWindows('a question', 'a context', { maxLength: 8, stride: 8 })).toThrow(/stride 8 must be smaller/);
  });

  it('a pipeline file for rerank without the document column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnflow-rerank-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, `model: ${hub('cross-encoder')}\ntask: rerank\nsource: { type: jsonl, path: in.jsonl, field: query }\nsink: { type: stdout }\n`);
    expect(() => readPipelineFile(file)).toThrow(/task rerank needs source\.pairField/);
  });
});
