import { bestSpan, classifyLogits, groupEntities, l2Normalize, labelNames, pool, softmax, tokenPredictions, topK, type Answer, type Entity, type LabelScore } from '@attnflow/head';
import type { LoadedModel } from '@attnflow/models';
import type { BatchEncoding } from '@attnflow/tokenizer';
import type { EncoderResult } from '@attnflow/models';
import type { HeadOptions, TokenizerOptions } from './options.js';
import { countTokens, requireKind, TaskError, type Task, type TextRecord } from './task.js';

type Encoder = Extract<LoadedModel, { kind: 'encoder' }>;

function encodeBatch(m: Encoder, records: TextRecord[], options: TokenizerOptions, pairs = false): BatchEncoding {
  const maxLength = Math.min(options.maxLength ?? m.model.recipe.maxPositions, m.model.recipe.maxPositions);
  const inputs = records.map((r) => (pairs ? ([r.text, r.pair ?? ''] as [string, string]) : r.text));
  if (options.truncation === false) {
    const batch = m.tokenizer.encodeBatch(inputs);
    batch.encodings.forEach((e, i) => {
      if (e.ids.length > maxLength) throw new TaskError(`record ${records[i].index}: ${e.ids.length} tokens, more than maxLength ${maxLength} (truncation is off)`);
    });
    return batch;
  }
  return m.tokenizer.encodeBatch(inputs, { maxLength, truncation: pairs ? 'only_second' : 'longest_first' });
}

const HEAD_CLASS = { 'sequence-classification': 'ForSequenceClassification', 'token-classification': 'ForTokenClassification', 'question-answering': 'ForQuestionAnswering', 'masked-lm': 'ForMaskedLM' } as const;

/** The steps every head task shares: the right checkpoint, one padded batch, one forward pass. */
async function runHead(model: LoadedModel, task: string, head: keyof typeof HEAD_CLASS, records: TextRecord[], options: TokenizerOptions, pairs = false) {
  const m = requireKind(model, task, ['encoder']);
  if (m.model.recipe.head !== head) throw new TaskError(`task "${task}" needs a *${HEAD_CLASS[head]} checkpoint; ${m.dir} is ${m.config.architecture}`);
  const enc = encodeBatch(m, records, options, pairs);
  return { m, enc, out: await m.model.forward(enc), tokens: countTokens(enc.attentionMask) };
}

/**
 * One vector per text from the encoder's token states: the model's sentence-transformers pooling and
 * normalisation unless the head options say otherwise, else mean pooling, L2-normalised.
 */
export function sentenceEmbeddings(m: Encoder, enc: BatchEncoding, out: EncoderResult, head: HeadOptions['embed']): Float32Array[] {
  const H = out.hiddenSize;
  const pooled = pool(head.pooling ?? m.sentence?.pooling ?? 'mean', out.lastHiddenState, enc.attentionMask, enc.batch, enc.length, H);
  if (head.normalize ?? m.sentence?.normalize ?? true) l2Normalize(pooled, H);
  return Array.from({ length: enc.batch }, (_, i) => pooled.slice(i * H, (i + 1) * H));
}

export const embedTask: Task<'embed', { embedding: Float32Array }> = {
  name: 'embed',
  kinds: ['encoder'],
  async run(model, records, options) {
    const m = requireKind(model, 'embed', ['encoder']);
    const enc = encodeBatch(m, records, options.tokenizer);
    const out = await m.model.forward(enc);
    return { results: sentenceEmbeddings(m, enc, out, options.head).map((embedding) => ({ embedding })), tokens: countTokens(enc.attentionMask) };
  },
};

export const classifyTask: Task<'classify', { label: string; score: number; labels: LabelScore[] }> = {
  name: 'classify',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, out, tokens } = await runHead(model, 'classify', 'sequence-classification', records, options.tokenizer);
    const topK = options.head.topK ?? 1;
    const n = m.model.recipe.numLabels;
    const names = labelNames(m.model.recipe.id2label, n);
    return {
      results: records.map((_, i) => {
        const labels = classifyLogits(out.logits!.subarray(i * n, (i + 1) * n), names, n);
        return { label: labels[0].label, score: labels[0].score, labels: labels.slice(0, topK) };
      }),
      tokens,
    };
  },
};

export const nerTask: Task<'ner', { entities: Entity[] }> = {
  name: 'ner',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, enc, out, tokens } = await runHead(model, 'ner', 'token-classification', records, options.tokenizer);
    const n = m.model.recipe.numLabels;
    const names = labelNames(m.model.recipe.id2label, n);
    const L = enc.length;
    return {
      results: records.map((r, i) => {
        const e = enc.encodings[i];
        const preds = tokenPredictions(out.logits!.subarray(i * L * n, (i * L + e.ids.length) * n), n, names, e.tokens, e.offsets, e.specialTokensMask);
        return { entities: groupEntities(preds, r.text) };
      }),
      tokens,
    };
  },
};

/** Records carry the question as `text` and the context as `pair`. */
export const qaTask: Task<'qa', Answer | { answer: null; score: 0 }> = {
  name: 'qa',
  kinds: ['encoder'],
  async run(model, records, options) {
    for (const r of records) if (r.pair === undefined) throw new TaskError(`record ${r.index}: question answering needs a context (pair) for the question "${r.text.slice(0, 40)}"`);
    const { enc, out, tokens } = await runHead(model, 'qa', 'question-answering', records, options.tokenizer, true);
    const L = enc.length;
    return {
      results: records.map((r, i) => {
        const e = enc.encodings[i];
        const start = Array.from({ length: e.ids.length }, (_, t) => out.logits![(i * L + t) * 2]);
        const end = Array.from({ length: e.ids.length }, (_, t) => out.logits![(i * L + t) * 2 + 1]);
        return bestSpan(start, end, e.sequenceIds.map((s) => s === 1), e.offsets, r.pair!, options.head.maxAnswerTokens) ?? { answer: null, score: 0 as const };
      }),
      tokens,
    };
  },
};

export interface FillMaskPrediction {
  tokenId: number;
  token: string;
  score: number;
  sequence: string;
}

export const fillMaskTask: Task<'fill-mask', { masks: FillMaskPrediction[][] }> = {
  name: 'fill-mask',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, enc, out, tokens } = await runHead(model, 'fill-mask', 'masked-lm', records, options.tokenizer);
    const maskToken = typeof m.tokenizer.config.mask_token === 'string' ? m.tokenizer.config.mask_token : ['[MASK]', '<mask>'].find((t) => m.tokenizer.tokenToId(t) !== undefined);
    const maskId = maskToken === undefined ? undefined : m.tokenizer.tokenToId(maskToken);
    if (maskId === undefined) throw new TaskError(`${m.dir}: the tokenizer has no mask token`);
    const V = m.model.recipe.vocabSize;
    const L = enc.length;
    return {
      results: records.map((r, i) => {
        const e = enc.encodings[i];
        const positions = e.ids.flatMap((id, t) => (id === maskId ? [t] : []));
        if (!positions.length) throw new TaskError(`record ${r.index}: no ${maskToken} in "${r.text.slice(0, 60)}"`);
        return {
          masks: positions.map((t) => {
            const p = softmax(out.logits!.subarray((i * L + t) * V, (i * L + t + 1) * V));
            return topK(p, options.head.topK ?? 5).map((id) => {
              const token = m.tokenizer.idToToken(id) ?? '';
              const [s, eOff] = e.offsets[t];
              return { tokenId: id, token, score: p[id], sequence: r.text.slice(0, s) + m.tokenizer.decode([id]) + r.text.slice(eOff) };
            });
          }),
        };
      }),
      tokens,
    };
  },
};
