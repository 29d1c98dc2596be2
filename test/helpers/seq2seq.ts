import type { Seq2SeqModel } from '@attnflow/models';
import { expectClose } from './fixtures.js';

/** Tokens up to and including the first EOS after the start: what generation decided; what follows is fill. */
export const untilEos = (ids: number[], eos: number) => (ids.indexOf(eos, 1) >= 0 ? ids.slice(0, ids.indexOf(eos, 1) + 1) : ids);

/** The right-padded batch of a seq2seq fixture's expected.json. */
export function seq2seqInputs(exp: { input_ids: number[][]; attention_mask: number[][] }) {
  const ids = exp.input_ids;
  return { batch: ids.length, length: ids[0].length, inputIds: Int32Array.from(ids.flat()), attentionMask: Int32Array.from(exp.attention_mask.flat()) };
}

/** Each source alone, unpadded, gives the logits its row of the padded batch gives (1e-4). */
export async function expectBatchEqualsSingles(model: Seq2SeqModel, exp: { input_ids: number[][]; attention_mask: number[][]; decoder_input_ids: number[][] }): Promise<void> {
  const all = await model.forward(seq2seqInputs(exp), exp.decoder_input_ids);
  const T = exp.decoder_input_ids[0].length;
  const V = model.recipe.vocabSize;
  for (let j = 0; j < exp.input_ids.length; j++) {
    const n = exp.attention_mask[j].reduce((a, b) => a + b, 0);
    const single = await model.forward({ batch: 1, length: n, inputIds: Int32Array.from(exp.input_ids[j].slice(0, n)), attentionMask: new Int32Array(n).fill(1) }, [exp.decoder_input_ids[j]]);
    expectClose(single.logits, all.logits.subarray(j * T * V, (j + 1) * T * V), 1e-4, `input ${j}`);
  }
}
