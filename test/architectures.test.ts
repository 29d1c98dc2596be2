/**
 * Parity with transformers for the architectures of fixtures/architectures/ (see its README): every float within
 * 1e-4, every id identical, through the pooled kernels. Every size, count and option is read from the fixture's
 * own files, so held-out twins with other configs run against the same tests.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EncoderModel, Seq2SeqModel, debertaBucket, loadModel } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { Tokenizer, languageTokenId, sentencePieceTokenizer, toCodePointOffsets, withLanguage } from '@attnflow/tokenizer';
import { clsPool, l2Normalize, meanPool } from '@attnflow/head';
import { paddingPositions, relativePositionBucket } from '@attnflow/embedding';
import { beamSearch, generateTokens } from '@attnflow/decoder';
import { translate } from '@attnflow/pipeline';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';
import { expectBatchEqualsSingles, seq2seqInputs, untilEos } from './helpers/seq2seq.js';

const pooled = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => pooled.close());

const ROOT = fixture('architectures');
const folders = readdirSync(ROOT).filter((d) => statSync(fixture('architectures', d)).isDirectory());
const isSeq2Seq = (name: string) => 'sources' in readJson(`architectures/${name}/expected.json`);
const encoders = folders.filter((d) => !isSeq2Seq(d));
const seq2seqs = folders.filter(isSeq2Seq);

const argmax = (row: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};

function softmax(row: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(row));
  const e = Array.from(row, (x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

interface TokenizerCase { text: string; ids: number[]; tokens: string[]; offsets: [number, number][] | null; decoded: string }

function checkTokenizerCases(tok: Tokenizer, cases: TokenizerCase[]): void {
  for (const c of cases) {
    const e = tok.encode(c.text);
    expect(e.ids, JSON.stringify(c.text)).toEqual(c.ids);
    expect(e.tokens, JSON.stringify(c.text)).toEqual(c.tokens);
    if (c.offsets) expect(toCodePointOffsets(c.text, e.offsets), JSON.stringify(c.text)).toEqual(c.offsets);
    expect(tok.decode(c.ids, { skipSpecialTokens: true }), JSON.stringify(c.text)).toBe(c.decoded);
  }
}

describe.each(encoders)('%s (encoder) parity with transformers', (name) => {
  const dir = fixture('architectures', name);
  const exp = readJson(`architectures/${name}/expected.json`);
  const ref = readExpected(`architectures/${name}/expected.safetensors`);
  const config = readJson(`architectures/${name}/config.json`);
  const model = EncoderModel.load(dir, pooled);
  const tok = Tokenizer.fromDirectory(dir);
  const ids = exp.input_ids as number[][];
  const inputs = {
    batch: ids.length, length: ids[0].length,
    inputIds: Int32Array.from(ids.flat()),
    attentionMask: Int32Array.from((exp.attention_mask as number[][]).flat()),
    tokenTypeIds: exp.token_type_ids ? Int32Array.from((exp.token_type_ids as number[][]).flat()) : undefined,
  };

  it('tokenizer: the cases, the pair, and the batch of texts', () => {
    checkTokenizerCases(tok, exp.tokenizer_cases);
    const pair = tok.encode(exp.tokenizer_pair.a, exp.tokenizer_pair.b);
    expect(pair.ids).toEqual(exp.tokenizer_pair.ids);
    if (exp.tokenizer_pair.type_ids) expect(pair.typeIds).toEqual(exp.tokenizer_pair.type_ids);
    expect(Array.from(tok.encodeBatch(exp.texts).inputIds)).toEqual(ids.flat());
  });

  it('padded batch: last hidden state (padded rows included) and the head', async () => {
    const out = await model.forward(inputs);
    const H = out.hiddenSize;
    expectClose(out.lastHiddenState, ref.get('batch.last_hidden_state')!.data, 1e-4, 'last_hidden_state');
    if (ref.has('batch.pooler_output')) {
      expectClose(out.pooled!, ref.get('batch.pooler_output')!.data, 1e-4, 'pooler_output');
      const mean = meanPool(out.lastHiddenState, inputs.attentionMask, inputs.batch, inputs.length, H);
      expectClose(mean, ref.get('batch.mean_pooled')!.data, 1e-4, 'mean_pooled');
      expectClose(l2Normalize(mean, H), ref.get('batch.sentence_embedding')!.data, 1e-4, 'sentence_embedding');
      expectClose(clsPool(out.lastHiddenState, inputs.batch, inputs.length, H), ref.get('batch.cls_pooled')!.data, 1e-4, 'cls_pooled');
    }
    if (!ref.has('batch.logits')) return;
    const logits = ref.get('batch.logits')!;
    expectClose(out.logits!, logits.data, 1e-4, 'logits');
    const width = logits.shape[logits.shape.length - 1];
    const row = (r: number) => out.logits!.subarray(r * width, (r + 1) * width);
    if (ref.has('batch.probs')) {
      expectClose(Float32Array.from(ids.flatMap((_, b) => softmax(row(b)))), ref.get('batch.probs')!.data, 1e-4, 'probs');
      expect(ids.map((_, b) => config.id2label[argmax(row(b))])).toEqual(exp.labels);
    } else if (exp.labels) {
      const L = inputs.length;
      expect(ids.map((_, b) => exp.attention_mask[b].flatMap((m: number, i: number) => (m ? [config.id2label[argmax(row(b * L + i))]] : [])))).toEqual(exp.labels);
    }
    for (const entry of exp.top5 ?? []) {
      const p = softmax(row(entry.text * inputs.length + entry.position));
      const best = p.map((s, id) => ({ id, s })).sort((a, b) => b.s - a.s).slice(0, entry.top5.length);
      expect(best.map((b) => b.id)).toEqual(entry.top5.map((t: { token_id: number }) => t.token_id));
      best.forEach((b, k) => expect(Math.abs(b.s - entry.top5[k].score)).toBeLessThan(1e-4));
    }
  });

  it('each text alone, unpadded, equals transformers', async () => {
    for (let j = 0; j < exp.texts.length; j++) {
      const out = await model.forward(tok.encodeBatch([exp.texts[j]]));
      expectClose(out.lastHiddenState, ref.get(`text${j}.last_hidden_state`)!.data, 1e-4, `text${j}`);
    }
  });

  it('relative position buckets (MPNet, DeBERTa-v2) equal the reference table', () => {
    const L = inputs.length;
    if (exp.relative_position_bucket) {
      // MPNet: bucket of the key's position minus the query's, over 32 buckets up to 128
      const table = Array.from({ length: L }, (_, i) => Array.from({ length: L }, (_, j) => relativePositionBucket(j - i, true, 32, 128)));
      expect(table).toEqual(exp.relative_position_bucket);
    }
    if (exp.relative_position_buckets) {
      const maxPosition = config.max_relative_positions >= 1 ? config.max_relative_positions : config.max_position_embeddings;
      const table = Array.from({ length: L }, (_, i) => Array.from({ length: L }, (_, j) => debertaBucket(i - j, config.position_buckets, maxPosition)));
      expect(table).toEqual(exp.relative_position_buckets);
    }
  });
});


describe.each(seq2seqs)('%s (encoder-decoder) parity with transformers', (name) => {
  const dir = fixture('architectures', name);
  const exp = readJson(`architectures/${name}/expected.json`);
  const ref = readExpected(`architectures/${name}/expected.safetensors`);
  const config = readJson(`architectures/${name}/config.json`);
  const model = Seq2SeqModel.load(dir, pooled);
  const ids = exp.input_ids as number[][];
  const inputs = seq2seqInputs(exp);
  const gen = exp.generation;
  const maxNewTokens = exp.beam_settings.max_new_tokens;

  it('tokenizer: the cases, the sources, the target texts and the language codes', () => {
    const tok = Tokenizer.fromDirectory(dir);
    checkTokenizerCases(tok, exp.tokenizer_cases);
    if (exp.tokenizer_len !== undefined) expect(tok.vocabSize).toBe(exp.tokenizer_len);
    const source = exp.src_lang === undefined ? tok : withLanguage(tok, exp.src_lang);
    expect(Array.from(source.encodeBatch(exp.sources).inputIds)).toEqual(ids.flat());
    if (exp.src_lang === undefined) return;
    expect(languageTokenId(tok, exp.src_lang)).toBe(exp.src_lang_id);
    expect(languageTokenId(tok, exp.tgt_lang)).toBe(exp.tgt_lang_id);
    expect(gen.forced_bos_token_id).toBe(exp.tgt_lang_id);
    const target = withLanguage(tok, exp.tgt_lang, 'target');
    for (const c of exp.target_cases) expect(target.encode(c.text).ids, c.text).toEqual(c.ids);
    expect(() => withLanguage(tok, 'xx_YY')).toThrow(new RegExp(`"xx_YY" is not one of this tokenizer's languages: .*${exp.tgt_lang}`));
  });

  it('encoder hidden states and decoder logits for the given decoder inputs', async () => {
    if (exp.position_ids) expect(Array.from(paddingPositions(inputs.inputIds, inputs.batch, inputs.length, config.pad_token_id))).toEqual(exp.position_ids.flat());
    const out = await model.forward(inputs, exp.decoder_input_ids);
    expectClose(out.encoderLastHiddenState, ref.get('batch.encoder_last_hidden_state')!.data, 1e-4, 'encoder');
    expectClose(out.logits, ref.get('batch.logits')!.data, 1e-4, 'logits');
  });

  it('greedy ids (forced BOS where the fixture has one)', async () => {
    const encoded = await model.encode(inputs);
    const { session, logits } = await model.start(encoded, { maxNewTokens });
    // the decoder's sequence so far is its start token; the forced BOS is a logits processor, as in transformers
    const out = await generateTokens(session, logits, ids.map(() => [gen.decoder_start_token_id]), { maxNewTokens, eosTokenId: gen.eos_token_id, padTokenId: gen.pad_token_id, forcedBosTokenId: gen.forced_bos_token_id });
    session.dispose();
    encoded.dispose();
    expect(out.map((o) => [gen.decoder_start_token_id, ...o])).toEqual(exp.greedy_ids);
  });

  it('beam-search ids', async () => {
    const s = exp.beam_settings;
    const encoded = await model.encode(inputs);
    const { session, logits } = await model.start(encoded, { maxNewTokens: s.max_new_tokens, beams: s.num_beams });
    const out = await beamSearch(session, logits, ids.map(() => [gen.decoder_start_token_id]), {
      numBeams: s.num_beams, lengthPenalty: s.length_penalty, earlyStopping: s.early_stopping, maxNewTokens: s.max_new_tokens,
      eosTokenId: gen.eos_token_id, padTokenId: gen.pad_token_id, forcedBosTokenId: gen.forced_bos_token_id,
    });
    session.dispose();
    encoded.dispose();
    out.forEach((o, j) => expect(untilEos([gen.decoder_start_token_id, ...o], gen.eos_token_id)).toEqual(untilEos(exp.beam3_ids[j], gen.eos_token_id)));
  });

  it('generate() with the model settings and the fixture forced BOS gives the greedy ids', async () => {
    const out = await model.generate(inputs, { maxNewTokens, numBeams: 1, forcedBosTokenId: gen.forced_bos_token_id });
    expect(out.map((o) => [gen.decoder_start_token_id, ...o])).toEqual(exp.greedy_ids);
  });

  it('a batch gives the same logits as single inputs', () => expectBatchEqualsSingles(model, exp));
});

describe.each(folders.filter((d) => readJson(`architectures/${d}/expected.json`).spm_cases))('%s: the SentencePiece .model alone equals the sentencepiece library', (name) => {
  it('ids and decoded text of every spm case', () => {
    const file = readdirSync(fixture('architectures', name)).find((f) => f.endsWith('.model'))!;
    const tok = sentencePieceTokenizer(fixture('architectures', name, file));
    for (const c of readJson(`architectures/${name}/expected.json`).spm_cases) {
      expect(tok.encode(c.text).ids, JSON.stringify(c.text)).toEqual(c.ids);
      expect(tok.decode(c.ids), JSON.stringify(c.text)).toBe(c.decoded);
    }
  });
});

describe.each(seq2seqs.filter((d) => readJson(`architectures/${d}/expected.json`).src_lang !== undefined))('%s: translate with --src/--tgt', (name) => {
  const exp = readJson(`architectures/${name}/expected.json`);
  const maxNewTokens = exp.beam_settings.max_new_tokens;

  it('the translate task with srcLang/tgtLang gives the greedy reference', async () => {
    const out = await translate(fixture('architectures', name), exp.sources, { decoder: { maxNewTokens }, head: { srcLang: exp.src_lang, tgtLang: exp.tgt_lang } });
    out.forEach((r, j) => expect([exp.generation.decoder_start_token_id, ...r.tokens]).toEqual(exp.greedy_ids[j].slice(0, 1 + r.tokens.length)));
  });

  it('an unknown language is refused with the list of the tokenizer\'s languages', async () => {
    await expect(translate(fixture('architectures', name), exp.sources, { head: { tgtLang: 'xx_YY' } })).rejects.toThrow(new RegExp(`target language "xx_YY" is not one of this tokenizer's languages: .*${exp.tgt_lang}`));
  });
});

describe('unknown architectures', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dirWith = (config: object) => {
    const dir = mkdtempSync(join(tmpdir(), 'attnflow-arch-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    copyFileSync(fixture('bert', 'tokenizer.json'), join(dir, 'tokenizer.json'));
    return dir;
  };

  it('an unknown architecture or model_type is refused with everything supported', () => {
    expect(() => loadModel(dirWith({ architectures: ['LongformerModel'], model_type: 'longformer' }))).toThrow(/architecture "LongformerModel" is not supported\. Supported: BertModel, .*DebertaV2Model.*MBartForConditionalGeneration.*M2M100ForConditionalGeneration.*MT5ForConditionalGeneration/);
    expect(() => loadModel(dirWith({ model_type: 'longformer' }))).toThrow(/model_type "longformer" is not one attnflow knows \(.*m2m_100.*deberta-v2/);
  });
});
