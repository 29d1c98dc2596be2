import { afterAll, describe, expect, it } from 'vitest';
import { Seq2SeqModel } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { Tokenizer } from '@attnflow/tokenizer';
import { beamSearch, generateTokens } from '@attnflow/decoder';
import { relativePositionBucket } from '@attnflow/embedding';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';
import { expectBatchEqualsSingles, seq2seqInputs, untilEos } from './helpers/seq2seq.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());


describe.each(['bart', 'marian', 't5'])('%s parity with transformers', (name) => {
  const exp = readJson(name, 'expected.json');
  const ref = readExpected(name, 'expected.safetensors');
  const model = Seq2SeqModel.load(fixture(name), engine);
  const tok = Tokenizer.fromDirectory(fixture(name));
  const ids = exp.input_ids as number[][];
  const inputs = seq2seqInputs(exp);
  const gen = exp.generation;

  it('tokenizes the sources identically', () => {
    const batch = tok.encodeBatch(exp.sources);
    expect(Array.from(batch.inputIds)).toEqual(ids.flat());
  });

  it('encoder hidden states and decoder logits for the given decoder inputs', async () => {
    const out = await model.forward(inputs, exp.decoder_input_ids);
    expectClose(out.encoderLastHiddenState, ref.get('batch.encoder_last_hidden_state')!.data, 1e-4, 'encoder');
    expectClose(out.logits, ref.get('batch.logits')!.data, 1e-4, 'logits');
  });

  it('greedy ids', async () => {
    const encoded = await model.encode(inputs);
    const { session, logits } = await model.start(encoded, { maxNewTokens: 12 });
    const out = await generateTokens(session, logits, ids.map(() => []), { maxNewTokens: 12, eosTokenId: gen.eos_token_id, padTokenId: gen.pad_token_id });
    session.dispose();
    encoded.dispose();
    out.forEach((o, j) => expect([gen.decoder_start_token_id, ...o, ...new Array(12 - o.length).fill(gen.pad_token_id)]).toEqual(exp.greedy_ids[j]));
  });

  it('beam-3 ids', async () => {
    const s = exp.beam_settings;
    const encoded = await model.encode(inputs);
    const { session, logits } = await model.start(encoded, { maxNewTokens: s.max_new_tokens, beams: s.num_beams });
    const out = await beamSearch(session, logits, ids.map(() => [gen.decoder_start_token_id]), { numBeams: s.num_beams, lengthPenalty: s.length_penalty, earlyStopping: s.early_stopping, maxNewTokens: s.max_new_tokens, eosTokenId: gen.eos_token_id, padTokenId: gen.pad_token_id });
    session.dispose();
    encoded.dispose();
    out.forEach((o, j) => expect(untilEos([gen.decoder_start_token_id, ...o], gen.eos_token_id)).toEqual(untilEos(exp.beam3_ids[j], gen.eos_token_id)));
  });

  it('a batch gives the same results as single inputs', () => expectBatchEqualsSingles(model, exp));
});

describe('T5 relative position buckets', () => {
  it('match Hugging Face for known cases', () => {
    // t5-small settings (32 buckets, max distance 128), worked by hand from the formula: 20 → 16 + 8 + trunc(8·ln(20/8)/ln(16)) = 26
    expect([-1, 0, 1, 7, 8, 20, 100, 200, -200].map((d) => relativePositionBucket(d, true, 32, 128))).toEqual([1, 0, 17, 23, 24, 26, 31, 31, 15]);
    expect([0, -1, -15, -16, -50, 5].map((d) => relativePositionBucket(d, false, 32, 128))).toEqual([0, 1, 15, 16, 24, 0]);
  });
});

describe('determinism through the worker pool', () => {
  it('greedy decoding gives the same ids on every repetition (pool threads, shared arena)', async () => {
    const exp = readJson('marian', 'expected.json');
    const ids = exp.input_ids as number[][];
    const inputs = { batch: ids.length, length: ids[0].length, inputIds: Int32Array.from(ids.flat()), attentionMask: Int32Array.from((exp.attention_mask as number[][]).flat()) };
    for (let round = 0; round < 20; round++) {
      const e = new Engine({ workers: 2, minPoolFlops: 0 });
      const model = Seq2SeqModel.load(fixture('marian'), e);
      const encoded = await model.encode(inputs);
      const { session, logits } = await model.start(encoded, { maxNewTokens: 12 });
      const out = await generateTokens(session, logits, ids.map(() => []), { maxNewTokens: 12, eosTokenId: 1, padTokenId: 0 });
      session.dispose();
      encoded.dispose();
      model.dispose();
      await e.close();
      out.forEach((o, j) => expect([0, ...o, ...new Array(12 - o.length).fill(0)], `round ${round}`).toEqual(exp.greedy_ids[j]));
    }
  });
});
