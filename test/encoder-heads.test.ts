/**
 * Task heads of ModernBERT, DeBERTa-v2, RoBERTa, XLM-R and ELECTRA, and the tasks on them, against Hugging Face
 * (test/fixtures/encoder-heads, see its README): the head's logits for a padded batch, then every task case of
 * expected.json through attnflow's task functions. Every folder is discovered and every text, label and option is
 * read from the fixture's files.
 */
import { cpSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Aggregation } from '@attnflow/head';
import { Engine } from '@attnflow/kernels';
import { EncoderModel } from '@attnflow/models';
import { classify, extractEntities, fillMask, rerank, scorePairs, zeroShot } from '@attnflow/pipeline';
import { Tokenizer, toCodePointOffsets } from '@attnflow/tokenizer';
import { expectClose, fixture, readJson } from './helpers/fixtures.js';

const pooled = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => pooled.close());

const folders = readdirSync(fixture('encoder-heads')).filter((d) => statSync(fixture('encoder-heads', d)).isDirectory());

/** Code-point offsets of a UTF-16 span of `text` (the fixtures record Python string indices). */
const cp = (text: string, start: number, end: number) => toCodePointOffsets(text, [[start, end]])[0];

const flat = (rows: unknown): number[] => (Array.isArray(rows) ? rows.flatMap(flat) : [rows as number]);

describe.each(folders)('%s', (name) => {
  const dir = fixture('encoder-heads', name);
  const exp = readJson('encoder-heads', name, 'expected.json');
  const batch = exp.batch;

  it('every file the generator listed is there', () => {
    expect(readdirSync(dir).sort()).toEqual([...exp.files].sort());
  });

  it('tokenizer: each text (or pair) gives the ids of the batch', () => {
    const tok = Tokenizer.fromDirectory(dir);
    exp.texts.forEach((t: string | [string, string], j: number) => {
      const e = Array.isArray(t) ? tok.encode(t[0], t[1]) : tok.encode(t);
      const real = (batch.input_ids[j] as number[]).filter((_, i) => batch.attention_mask[j][i]);
      expect(e.ids, JSON.stringify(t)).toEqual(real);
    });
  });

  it(`${exp.class}: the head's outputs for the padded batch`, async () => {
    const model = EncoderModel.load(dir, pooled);
    expect(model.recipe.architecture).toBe(exp.class);
    const ids = batch.input_ids as number[][];
    const out = await model.forward({
      batch: ids.length, length: ids[0].length,
      inputIds: Int32Array.from(ids.flat()),
      attentionMask: Int32Array.from(flat(batch.attention_mask)),
      tokenTypeIds: batch.token_type_ids ? Int32Array.from(flat(batch.token_type_ids)) : undefined,
    });
    // question answering: (batch, length, 2), start and end side by side
    const want = batch.start_logits ? flat(batch.start_logits).flatMap((s, i) => [s, flat(batch.end_logits)[i]]) : flat(batch.logits);
    expectClose(out.logits!, want, 1e-4, 'logits');
    model.dispose();
  });

  for (const [key, c] of Object.entries<any>(exp.tasks)) {
    it(`${key}: ${c.call}`, async () => {
      if (c.aggregation_strategy !== undefined) {
        const aggregation = c.aggregation_strategy as Aggregation;
        const got = await extractEntities(dir, c.inputs, { head: { aggregation } });
        got.forEach((entities, i) => {
          const text = c.inputs[i];
          const want = c.outputs[i];
          expect(entities.map((e) => [e.group, e.word, ...cp(text, e.start, e.end), e.index]), text).toEqual(want.map((w: any) => [w.entity ?? w.entity_group, w.word, w.start, w.end, w.index]));
          expectClose(entities.map((e) => e.score), want.map((w: any) => w.score), 1e-4, text);
        });
      } else if (key === 'fill_mask') {
        const got = await fillMask(dir, c.inputs, { head: { topK: c.top_k } });
        got.forEach((masks, i) => {
          expect(masks.length, c.inputs[i]).toBe(c.outputs[i].length);
          masks.forEach((preds, m) => {
            const want = c.outputs[i][m];
            expect(preds.map((p) => [p.tokenId, p.token, p.sequence]), c.inputs[i]).toEqual(want.map((w: any) => [w.token, w.token_str, w.sequence]));
            expectClose(preds.map((p) => p.score), want.map((w: any) => w.score), 1e-4, c.inputs[i]);
          });
        });
      } else if (key.startsWith('zero_shot')) {
        const got = await zeroShot(dir, c.inputs, c.candidate_labels, { head: { multiLabel: c.multi_label, hypothesisTemplate: c.hypothesis_template } });
        got.forEach((g, i) => {
          expect(g.labels.map((l) => l.label), c.inputs[i]).toEqual(c.outputs[i].labels);
          expectClose(g.labels.map((l) => l.score), c.outputs[i].scores, 1e-4, c.inputs[i]);
        });
      } else if (key === 'predict') {
        // the activation is the cross-encoder's own: config.json's sentence_transformers.activation_fn, else by label count
        expectClose(await scorePairs(dir, c.pairs), c.outputs, 1e-4, key);
      } else if (key.startsWith('rank')) {
        const got = await rerank(dir, c.query, c.documents, { topK: c.top_k ?? undefined, returnDocuments: c.return_documents });
        expect(got.map((r) => r.corpusId)).toEqual(c.outputs.map((o: any) => o.corpus_id));
        expect(got.map((r) => r.text)).toEqual(c.outputs.map((o: any) => o.text));
        expectClose(got.map((r) => r.score), c.outputs.map((o: any) => o.score), 1e-4, key);
      } else if (key === 'text_classification') {
        // top_k None: every label, best first
        const numLabels = Object.keys(readJson('encoder-heads', name, 'config.json').id2label).length;
        const got = await classify(dir, c.inputs, { head: { topK: c.top_k ?? numLabels } });
        got.forEach((g, i) => {
          expect(g.labels.map((l) => l.label), c.inputs[i]).toEqual(c.outputs[i].map((o: any) => o.label));
          expectClose(g.labels.map((l) => l.score), c.outputs[i].map((o: any) => o.score), 1e-4, c.inputs[i]);
        });
      } else {
        throw new Error(`${name}/expected.json: task case "${key}" is not one this test knows`);
      }
    });
  }
});

describe('bad head settings: errors name config.json and the field', () => {
  const config = (name: string) => readJson('encoder-heads', name, 'config.json');
  /** A copy of a fixture folder with some config.json fields replaced. */
  const variant = (name: string, change: Record<string, unknown>) => {
    const dir = mkdtempSync(join(tmpdir(), `attnflow-${name}-`));
    cpSync(fixture('encoder-heads', name), dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config(name), ...change }));
    return dir;
  };
  const withClass = (cls: string, has: (c: any) => boolean = () => true) => folders.find((d) => readJson('encoder-heads', d, 'expected.json').class === cls && has(config(d)))!;

  it('DeBERTa-v2: an even conv_kernel_size, conv_groups that do not divide hidden_size, pooler_hidden_size ≠ hidden_size', () => {
    const conv = folders.find((d) => config(d).conv_kernel_size > 0)!;
    const { conv_kernel_size: k, hidden_size: H } = config(conv);
    expect(() => EncoderModel.load(variant(conv, { conv_kernel_size: k + 1 }))).toThrow(new RegExp(`config\\.json: conv_kernel_size is ${k + 1}; expected an odd size`));
    expect(() => EncoderModel.load(variant(conv, { conv_groups: H + 1 }))).toThrow(new RegExp(`config\\.json: conv_groups ${H + 1} does not divide hidden_size ${H}`));
    const seq = withClass('DebertaV2ForSequenceClassification');
    expect(() => EncoderModel.load(variant(seq, { pooler_hidden_size: config(seq).hidden_size + 1 }))).toThrow(/config\.json: pooler_hidden_size \d+ ≠ hidden_size/);
  });

  it('ModernBERT: a classifier_pooling other than cls or mean', () => {
    const seq = withClass('ModernBertForSequenceClassification');
    expect(() => EncoderModel.load(variant(seq, { classifier_pooling: 'max' }))).toThrow(/config\.json: classifier_pooling is "max"; expected "cls" or "mean"/);
  });

  it('DeBERTa-v2 masked LM in the lm_predictions layout needs embedding_size = hidden_size', () => {
    const v3 = withClass('DebertaV2ForMaskedLM', (c) => c.legacy === false);
    expect(() => EncoderModel.load(variant(v3, { embedding_size: config(v3).hidden_size / 2 }))).toThrow(/config\.json: embedding_size \d+ ≠ hidden_size \d+; lm_predictions\.lm_head/);
  });
});
