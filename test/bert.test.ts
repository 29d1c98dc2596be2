import { afterAll, describe, expect, it } from 'vitest';
import { EncoderModel } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { Tokenizer } from '@attnflow/tokenizer';
import { l2Normalize, meanPool, clsPool } from '@attnflow/head';
import { expectClose, fixture, readExpected, readJson } from './helpers/fixtures.js';

const pooled = new Engine({ workers: 2, minPoolFlops: 0 });
const inline = new Engine({ workers: 0 });
afterAll(() => pooled.close());

function inputsOf(exp: any, prefix = '') {
  const ids = exp[`${prefix}input_ids`] as number[][];
  const batch = ids.length, length = ids[0].length;
  return {
    batch, length,
    inputIds: Int32Array.from(ids.flat()),
    attentionMask: Int32Array.from((exp[`${prefix}attention_mask`] as number[][]).flat()),
    tokenTypeIds: exp[`${prefix}token_type_ids`] ? Int32Array.from((exp[`${prefix}token_type_ids`] as number[][]).flat()) : undefined,
  };
}

describe('bert (EncoderModel) parity with transformers', () => {
  const exp = readJson('bert', 'expected.json');
  const ref = readExpected('bert', 'expected.safetensors');
  const model = EncoderModel.load(fixture('bert'), pooled);
  const tok = Tokenizer.fromDirectory(fixture('bert'));

  it('padded batch: last_hidden_state, pooler, mean/cls pooling, sentence embedding', async () => {
    const inputs = inputsOf(exp);
    const out = await model.forward(inputs);
    const H = out.hiddenSize;
    expectClose(out.lastHiddenState, ref.get('batch.last_hidden_state')!.data, 1e-4, 'last_hidden_state');
    expectClose(out.pooled!, ref.get('batch.pooler_output')!.data, 1e-4, 'pooler_output');
    const mean = meanPool(out.lastHiddenState, inputs.attentionMask, inputs.batch, inputs.length, H);
    expectClose(mean, ref.get('batch.mean_pooled')!.data, 1e-4, 'mean_pooled');
    expectClose(l2Normalize(mean, H), ref.get('batch.sentence_embedding')!.data, 1e-4, 'sentence_embedding');
    expectClose(clsPool(out.lastHiddenState, inputs.batch, inputs.length, H), ref.get('batch.cls_pooled')!.data, 1e-4, 'cls_pooled');
  });

  it('per text, unpadded: hidden states of every layer and attentions', async () => {
    for (let j = 0; j < exp.texts.length; j++) {
      const enc = tok.encodeBatch([exp.texts[j]]);
      const out = await model.forward(enc, { outputHiddenStates: true, outputAttentions: true });
      expectClose(out.lastHiddenState, ref.get(`text${j}.last_hidden_state`)!.data, 1e-4, `text${j} last_hidden_state`);
      const hs = ref.get(`text${j}.hidden_states`)!;
      expectClose(Float32Array.from(out.hiddenStates!.flatMap((h) => [...h])), hs.data, 1e-4, `text${j} hidden_states`);
      const at = ref.get(`text${j}.attentions`)!;
      const probs = Float32Array.from(out.attentions!.flatMap((a) => [...a]));
      expectClose(probs, at.data, 1e-4, `text${j} attentions`);
      const L = enc.length;
      for (let r = 0; r < probs.length / L; r++) {
        const sum = probs.subarray(r * L, (r + 1) * L).reduce((a, b) => a + b, 0);
        expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      }
    }
  });

  it('a padded batch equals unpadded single texts (1e-5), and 1 worker equals N workers exactly', async () => {
    const batch = tok.encodeBatch(exp.texts);
    const all = await model.forward(batch);
    const H = all.hiddenSize;
    for (let j = 0; j < exp.texts.length; j++) {
      const single = await model.forward(tok.encodeBatch([exp.texts[j]]));
      const n = single.length;
      expectClose(all.lastHiddenState.subarray(j * batch.length * H, (j * batch.length + n) * H), single.lastHiddenState, 1e-5, `text ${j}`);
    }
    const one = await EncoderModel.load(fixture('bert'), inline).forward(batch);
    expect(Array.from(one.lastHiddenState)).toEqual(Array.from(all.lastHiddenState));
  });
});

describe('BERT heads parity', () => {
  it('sequence classification: logits, probs and labels', async () => {
    const exp = readJson('bert-seqcls', 'expected.json');
    const ref = readExpected('bert-seqcls', 'expected.safetensors');
    const out = await EncoderModel.load(fixture('bert-seqcls'), pooled).forward(inputsOf(exp));
    expectClose(out.logits!, ref.get('batch.logits')!.data, 1e-4, 'logits');
  });

  it('token classification logits', async () => {
    const exp = readJson('bert-tokcls', 'expected.json');
    const ref = readExpected('bert-tokcls', 'expected.safetensors');
    const out = await EncoderModel.load(fixture('bert-tokcls'), pooled).forward(inputsOf(exp));
    expectClose(out.logits!, ref.get('batch.logits')!.data, 1e-4, 'logits');
  });

  it('question answering start/end logits', async () => {
    const exp = readJson('bert-qa', 'expected.json');
    const ref = readExpected('bert-qa', 'expected.safetensors');
    const out = await EncoderModel.load(fixture('bert-qa'), pooled).forward(inputsOf(exp, 'qa_'));
    const L = out.length;
    const start = new Float32Array(out.batch * L), end = new Float32Array(out.batch * L);
    for (let i = 0; i < out.batch * L; i++) {
      start[i] = out.logits![2 * i];
      end[i] = out.logits![2 * i + 1];
    }
    expectClose(start, ref.get('qa.start_logits')!.data, 1e-4, 'start');
    expectClose(end, ref.get('qa.end_logits')!.data, 1e-4, 'end');
  });

  it('masked LM logits', async () => {
    const exp = readJson('bert-mlm', 'expected.json');
    const ref = readExpected('bert-mlm', 'expected.safetensors');
    const out = await EncoderModel.load(fixture('bert-mlm'), pooled).forward(inputsOf(exp, 'mask_'));
    expectClose(out.logits!, ref.get('mask.logits')!.data, 1e-4, 'logits');
  });
});
