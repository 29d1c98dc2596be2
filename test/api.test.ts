import { afterAll, describe, expect, it } from 'vitest';
import { firstValueFrom, from, toArray } from 'rxjs';
import { loadModel } from '@attnflow/models';
import { closeSharedEngine } from '@attnflow/kernels';
import { Tokenizer, tokenize } from '@attnflow/tokenizer';
import { answer, classify, embed, encode, extractEntities, fillMask, generate, generateStream, poolEmbeddings, summarize, translate } from '@attnflow/pipeline';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';

afterAll(() => closeSharedEngine());

describe('one-call task helpers on the fixture models', () => {
  it('embed: sentence embeddings match the reference, in input order, batch-size independent', async () => {
    const exp = readJson('bert', 'expected.json');
    const ref = readExpected('bert', 'expected.safetensors').get('batch.sentence_embedding')!.data;
    for (const batchSize of [1, 2, 32]) {
      const out = await embed(fixture('bert'), exp.texts, { batching: { batchSize } });
      expect(out.length).toBe(exp.texts.length);
      expectClose(Float32Array.from(out.flatMap((e) => [...e])), ref, 1e-4, `batchSize ${batchSize}`);
    }
  });

  it('classify: labels match the reference', async () => {
    const exp = readJson('bert-seqcls', 'expected.json');
    const out = await classify(fixture('bert-seqcls'), exp.texts);
    expect(out.map((r) => r.label)).toEqual(exp.labels);
    const probs = readExpected('bert-seqcls', 'expected.safetensors').get('batch.probs')!.data;
    out.forEach((r, i) => expect(r.score).toBeCloseTo(Math.max(...probs.subarray(i * 3, i * 3 + 3)), 4));
  });

  it('fill-mask: top-5 tokens and scores match the reference', async () => {
    const exp = readJson('bert-mlm', 'expected.json');
    const out = await fillMask(fixture('bert-mlm'), exp.mask_texts);
    out.forEach((masks, i) => {
      expect(masks[0].map((p) => p.tokenId)).toEqual(exp.top5[i].map((t: any) => t.token_id));
      expect(masks[0].map((p) => p.token)).toEqual(exp.top5[i].map((t: any) => t.token));
      masks[0].forEach((p, k) => expect(p.score).toBeCloseTo(exp.top5[i][k].score, 5));
    });
  });

  it('ner and qa return spans that point into the input text', async () => {
    const text = 'The 2022 Beijing Winter Games';
    const ents = await extractEntities(fixture('bert-tokcls'), [text]);
    // word is the tokens joined (Hugging Face's convert_tokens_to_string: lower-cased for an uncased model).
    for (const e of ents[0]) expect(text.slice(e.start, e.end).toLowerCase()).toContain(e.word.replace(/^##/, '').split(' ')[0]);
    const ctx = 'The 2022 Winter Games were hosted by Beijing.';
    const a = await answer(fixture('bert-qa'), 'Who hosted the games?', ctx);
    expect(a.answer).not.toBeNull();
    if ('start' in a) expect(ctx.slice(a.start, a.end)).toBe(a.answer);
  });

  it('generate, translate, summarize reproduce the greedy reference', async () => {
    const g = readJson('gpt2', 'expected.json');
    const out = await generate(fixture('gpt2'), [g.prompts[1]], { decoder: { maxNewTokens: 16 } });
    expect(out[0].tokens).toEqual(g['prompt1.greedy_ids'].slice(g['prompt1.input_ids'].length));
    const m = readJson('marian', 'expected.json');
    const tr = await translate(fixture('marian'), m.sources, { decoder: { maxNewTokens: 12 } });
    tr.forEach((r, j) => expect(r.tokens).toEqual(m.greedy_ids[j].slice(1, 1 + r.tokens.length)));
    const b = readJson('bart', 'expected.json');
    const s = b.beam_settings;
    const su = await summarize(fixture('bart'), b.sources, { decoder: { maxNewTokens: s.max_new_tokens, numBeams: s.num_beams, earlyStopping: s.early_stopping, lengthPenalty: s.length_penalty } });
    const start = readJson('bart', 'config.json').decoder_start_token_id;
    su.forEach((r, j) => expect([start, ...r.tokens]).toEqual(b.beam3_ids[j].slice(0, 1 + r.tokens.length)));
  });

  it('generateStream emits tokens as they are produced and can be cancelled', async () => {
    const g = readJson('gpt2', 'expected.json');
    const model = loadModel(fixture('gpt2'));
    const events = await firstValueFrom(generateStream(model, g.prompts[2], { decoder: { maxNewTokens: 16 } }).pipe(toArray()));
    expect(events.filter((e) => e.token >= 0).map((e) => e.token)).toEqual(g['prompt2.greedy_ids'].slice(g['prompt2.input_ids'].length));
    expect(events.map((e) => e.text).join('')).toBe(g['prompt2.greedy_text']);
  });

  it('stages compose as RxJS operators: tokenize → encode → poolEmbeddings', async () => {
    const exp = readJson('bert', 'expected.json');
    const model = loadModel(fixture('bert'));
    if (model.kind !== 'encoder') throw new Error('expected an encoder');
    const tok = Tokenizer.fromDirectory(fixture('bert'));
    const out = await firstValueFrom(from(exp.texts as string[]).pipe(tokenize(tok, { batchSize: 4 }), encode(model), poolEmbeddings(), toArray()));
    const ref = readExpected('bert', 'expected.safetensors').get('batch.sentence_embedding')!.data;
    expectClose(Float32Array.from(out.flatMap((e) => [...e])), ref, 1e-4, 'operators');
  });
});
