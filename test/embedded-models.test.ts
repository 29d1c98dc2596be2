import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '@attnflow/models';
import { softmax } from '@attnflow/head';
import { classify, embed, extractEntities, fillMask, generate, resolveModel } from '@attnflow/pipeline';
import { evaluateModels, formatFigures, MODELS_DIR } from '../tools/eval-models.js';
import { expectClose } from './helpers/fixtures.js';

// The trained models are not fixtures (parity tests use test/fixtures): here they must load, reproduce what
// PyTorch computed for them (pipelines/models/eval/reference.json, written by tools/train/reference.py), and
// their evaluation command must run.
const reference = JSON.parse(readFileSync(`${MODELS_DIR}eval/reference.json`, 'utf8'));
const dir = (name: string) => `${MODELS_DIR}${name}`;

describe('the embedded models (pipelines/models)', () => {
  it('every model directory loads', () => {
    const names = readdirSync(MODELS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'eval').map((d) => d.name);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(() => loadModel(dir(name)), name).not.toThrow();
  });

  it('embed and classify match PyTorch', async () => {
    const e = await embed(dir('mini-bert'), reference.embed.texts);
    e.forEach((v, i) => expectClose(v, reference.embed.embeddings[i], 1e-4, `embedding ${i}`));
    const c = await classify(dir('mini-bert-sentiment'), reference.classify.texts, { head: { topK: reference.classify.labels.length } });
    c.forEach((r, i) => {
      const byLabel = new Map(r.labels.map((l) => [l.label, l.score]));
      expectClose(reference.classify.labels.map((l: string) => byLabel.get(l) ?? Number.NaN), reference.classify.probabilities[i], 1e-4, `classify ${i}`);
    });
  });

  it('token labels, answer logits and masked-word scores match PyTorch', async () => {
    const ner = await extractEntities(dir('mini-bert-ner'), reference.ner.texts);
    expect(ner.length).toBe(reference.ner.texts.length);
    const m = resolveModel(dir('mini-bert-ner'));
    if (m.kind !== 'encoder') throw new Error('mini-bert-ner: expected an encoder');
    for (const [i, text] of (reference.ner.texts as string[]).entries()) {
      const enc = m.tokenizer.encode(text);
      expect(enc.tokens).toEqual(reference.ner.tokens[i].tokens);
      const { logits } = await m.model.forward({ batch: 1, length: enc.ids.length, inputIds: Int32Array.from(enc.ids), attentionMask: Int32Array.from(enc.attentionMask) });
      const labels = logits!.length / enc.ids.length;
      const probabilities = enc.ids.flatMap((_, t) => softmax(logits!.subarray(t * labels, (t + 1) * labels)));
      expectClose(probabilities, reference.ner.tokens[i].probabilities.flat(), 1e-4, `token label probabilities of "${text}"`);
    }
    const qa = resolveModel(dir('mini-bert-qa'));
    if (qa.kind !== 'encoder') throw new Error('mini-bert-qa: expected an encoder');
    for (const r of reference.qa) {
      const enc = qa.tokenizer.encode(r.question, r.context);
      const out = await qa.model.forward({ batch: 1, length: enc.ids.length, inputIds: Int32Array.from(enc.ids), attentionMask: Int32Array.from(enc.attentionMask), tokenTypeIds: Int32Array.from(enc.typeIds) });
      expectClose(out.logits!.filter((_, k) => k % 2 === 0), r.start_logits, 1e-4, `start logits of "${r.question}"`);
      expectClose(out.logits!.filter((_, k) => k % 2 === 1), r.end_logits, 1e-4, `end logits of "${r.question}"`);
    }
    const fills = await fillMask(dir('mini-bert-mlm'), reference['fill-mask'].map((f: { text: string }) => f.text), { head: { topK: 5 } });
    fills.forEach((masks, i) => {
      expect(masks[0].map((p) => p.token)).toEqual(reference['fill-mask'][i].tokens);
      expectClose(masks[0].map((p) => p.score), reference['fill-mask'][i].scores, 1e-4, `fill-mask ${i}`);
    });
  });

  it('greedy generation matches PyTorch', async () => {
    // PyTorch stops a prompt at its end-of-text token, so a reference may hold fewer tokens than max_new_tokens
    const out = await generate(dir('mini-gpt2'), reference.generate.map((g: { prompt: string }) => g.prompt), { decoder: { maxNewTokens: reference.generate[0].max_new_tokens, doSample: false } });
    out.forEach((g, i) => expect(g.tokens.slice(0, reference.generate[i].tokens.length)).toEqual(reference.generate[i].tokens));
  });

  it('the evaluation command runs on a subset of every set', async () => {
    const figures = await evaluateModels({ limit: 2 });
    expect(figures.map((f) => f.task).sort()).toEqual(['classify', 'embed', 'fill-mask', 'generate', 'ner', 'qa']);
    for (const f of figures) for (const v of Object.values(f.values)) expect(Number.isFinite(v), `${f.model} ${f.metric}`).toBe(true);
    expect(formatFigures(figures)).toContain('mini-bert-sentiment');
  });
});
