import { bestSpan, classifyLogits, groupEntities, l2Normalize, labelNames, pool, softmax, tokenPredictions, topK, type Answer, type Entity, type LabelScore, type PoolingMode } from '@attnflow/head';
import type { LoadedModel } from '@attnflow/models';
import type { BatchEncoding } from '@attnflow/tokenizer';
import { countTokens, requireKind, TaskError, type EncodeOptions, type Task, type TextRecord } from './task.js';

type Encoder = Extract<LoadedModel, { kind: 'encoder' }>;

function encodeBatch(m: Encoder, records: TextRecord[], options: EncodeOptions, pairs = false): BatchEncoding {
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
async function runHead(model: LoadedModel, task: string, head: keyof typeof HEAD_CLASS, records: TextRecord[], options: EncodeOptions, pairs = false) {
  const m = requireKind(model, task, ['encoder']);
  if (m.model.recipe.head !== head) throw new TaskError(`task "${task}" needs a *${HEAD_CLASS[head]} checkpoint; ${m.dir} is ${m.config.architecture}`);
  const enc = encodeBatch(m, records, options, pairs);
  return { m, enc, out: await m.model.forward(enc), tokens: countTokens(enc.attentionMask) };
}

export interface EmbedOptions extends EncodeOptions {
  /** Default: the sentence-transformers settings of the model, else mean. */
  pooling?: PoolingMode;
  /** L2-normalise (default: as the model's modules.json says, else true). */
  normalize?: boolean;
}

export const embedTask: Task<EmbedOptions, { embedding: Float32Array }> = {
  name: 'embed',
  kinds: ['encoder'],
  async run(model, records, options) {
    const m = requireKind(model, 'embed', ['encoder']);
    const enc = encodeBatch(m, records, options);
    const out = await m.model.forward(enc);
    const H = out.hiddenSize;
    const pooled = pool(options.pooling ?? m.sentence?.pooling ?? 'mean', out.lastHiddenState, enc.attentionMask, enc.batch, enc.length, H);
    if (options.normalize ?? m.sentence?.normalize ?? true) l2Normalize(pooled, H);
    return { results: records.map((_, i) => ({ embedding: pooled.slice(i * H, (i + 1) * H) })), tokens: countTokens(enc.attentionMask) };
  },
};

export interface ClassifyOptions extends EncodeOptions {
  /** How many labels to return per text (default 1). */
  topK?: number;
}

export const classifyTask: Task<ClassifyOptions, { label: string; score: number; labels: LabelScore[] }> = {
  name: 'classify',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, out, tokens } = await runHead(model, 'classify', 'sequence-classification', records, options);
    const n = m.model.recipe.numLabels;
    const names = labelNames(m.model.recipe.id2label, n);
    return {
      results: records.map((_, i) => {
        const labels = classifyLogits(out.logits!.subarray(i * n, (i + 1) * n), names, options.topK ?? n);
        return { label: labels[0].label, score: labels[0].score, labels: labels.slice(0, options.topK ?? 1) };
      }),
      tokens,
    };
  },
};

export const nerTask: Task<EncodeOptions, { entities: Entity[] }> = {
  name: 'ner',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, enc, out, tokens } = await runHead(model, 'ner', 'token-classification', records, options);
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

export interface QaOptions extends EncodeOptions {
  maxAnswerTokens?: number;
}

/** Records carry the question as `text` and the context as `pair`. */
export const qaTask: Task<QaOptions, Answer | { answer: null; score: 0 }> = {
  name: 'qa',
  kinds: ['encoder'],
  async run(model, records, options) {
    for (const r of records) if (r.pair === undefined) throw new TaskError(`record ${r.index}: question answering needs a context (pair) for the question "${r.text.slice(0, 40)}"`);
    const { enc, out, tokens } = await runHead(model, 'qa', 'question-answering', records, options, true);
    const L = enc.length;
    return {
      results: records.map((r, i) => {
        const e = enc.encodings[i];
        const start = Array.from({ length: e.ids.length }, (_, t) => out.logits![(i * L + t) * 2]);
        const end = Array.from({ length: e.ids.length }, (_, t) => out.logits![(i * L + t) * 2 + 1]);
        return bestSpan(start, end, e.sequenceIds.map((s) => s === 1), e.offsets, r.pair!, options.maxAnswerTokens) ?? { answer: null, score: 0 as const };
      }),
      tokens,
    };
  },
};

export interface FillMaskOptions extends EncodeOptions {
  topK?: number;
}

export interface FillMaskPrediction {
  tokenId: number;
  token: string;
  score: number;
  sequence: string;
}

export const fillMaskTask: Task<FillMaskOptions, { masks: FillMaskPrediction[][] }> = {
  name: 'fill-mask',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, enc, out, tokens } = await runHead(model, 'fill-mask', 'masked-lm', records, options);
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
            return topK(p, options.topK ?? 5).map((id) => {
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
