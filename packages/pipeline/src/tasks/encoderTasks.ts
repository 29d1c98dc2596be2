import {
  ACTIVATE, aggregateEntities, answerSpans, applyDense, classifyLogits, defaultClassifyFunction, l2Normalize, labelNames, pool, softmax, tokenPredictions, topK,
  type Answer, type Entity, type LabelScore, type PoolingMode,
} from '@attnflow/head';
import { crossEncoderActivation, type ConfigReader, type EncoderResult, type LoadedModel } from '@attnflow/models';
import type { BatchEncoding, Truncation } from '@attnflow/tokenizer';
import type { HeadOptions, TokenizerOptions } from './options.js';
import { countTokens, requireKind, TaskError, type Task, type TextRecord } from './task.js';

type Encoder = Extract<LoadedModel, { kind: 'encoder' }>;

/**
 * The most tokens an input may have: the tokenizer's model_max_length, never more than the positions the model
 * has (RoBERTa numbers positions from padding_idx + 1, so 514 positions hold 512 tokens).
 */
export function inputLimit(m: Encoder): number {
  // the recipe's maxPositions counts usable positions (RoBERTa's already leave out the first padding_idx + 1 rows)
  return Math.min(m.tokenizer.config.maxLength ?? Infinity, m.model.recipe.maxPositions);
}

interface EncodeHow {
  /** How a pair is cut; texts alone always lose their end. */
  pairs?: Truncation;
  /** A limit of the model's own below the tokenizer's (sentence-transformers' max_seq_length). */
  maxLength?: number;
  lowercase?: boolean;
}

function encodeBatch(m: Encoder, records: TextRecord[], options: TokenizerOptions, how: EncodeHow = {}): BatchEncoding {
  const limit = inputLimit(m);
  const maxLength = Math.min(options.maxLength ?? how.maxLength ?? limit, limit);
  const text = (t: string) => (how.lowercase ? t.toLowerCase() : t);
  const inputs = records.map((r) => (how.pairs ? ([text(r.text), text(r.pair ?? '')] as [string, string]) : text(r.text)));
  if (options.truncation === false) {
    const batch = m.tokenizer.encodeBatch(inputs);
    batch.encodings.forEach((e, i) => {
      if (e.ids.length > maxLength) throw new TaskError(`record ${records[i].index}: ${e.ids.length} tokens, more than maxLength ${maxLength} (truncation is off)`);
    });
    return batch;
  }
  return m.tokenizer.encodeBatch(inputs, { maxLength, truncation: how.pairs ?? 'longest_first' });
}

const HEAD_CLASS = { 'sequence-classification': 'ForSequenceClassification', 'token-classification': 'ForTokenClassification', 'question-answering': 'ForQuestionAnswering', 'masked-lm': 'ForMaskedLM' } as const;

function requireHead(model: LoadedModel, task: string, head: keyof typeof HEAD_CLASS): Encoder {
  const m = requireKind(model, task, ['encoder']);
  if (m.model.recipe.head !== head) throw new TaskError(`task "${task}" needs a *${HEAD_CLASS[head]} checkpoint; ${m.dir} is ${m.config.architecture}`);
  return m;
}

/** The steps every head task shares: the right checkpoint, one padded batch, one forward pass. */
async function runHead(model: LoadedModel, task: string, head: keyof typeof HEAD_CLASS, records: TextRecord[], options: TokenizerOptions, how: EncodeHow = {}) {
  const m = requireHead(model, task, head);
  const enc = encodeBatch(m, records, options, how);
  return { m, enc, out: await m.model.forward(enc), tokens: countTokens(enc.attentionMask) };
}

/** Logits (records, numLabels) of a sequence classifier: a *ForSequenceClassification encoder or BART's. */
async function sequenceLogits(model: LoadedModel, task: string, records: TextRecord[], options: TokenizerOptions, pairs?: Truncation) {
  const head = model.kind === 'seq2seq' ? model.model.classifier : undefined;
  if (model.kind === 'seq2seq' && head) {
    const m = model;
    const limit = Math.min(m.tokenizer.config.maxLength ?? Infinity, m.model.recipe.maxPositions);
    const inputs = records.map((r) => (pairs ? ([r.text, r.pair ?? ''] as [string, string]) : r.text));
    const enc = m.tokenizer.encodeBatch(inputs, { maxLength: Math.min(options.maxLength ?? limit, limit), truncation: pairs ?? 'longest_first', paddingSide: 'right' });
    const n = head.numLabels;
    return { logits: await m.model.classify(enc), n, names: labelNames(m.config.labels(), n), config: m.config, tokens: countTokens(enc.attentionMask) };
  }
  const { m, out, tokens } = await runHead(model, task, 'sequence-classification', records, options, { pairs });
  const n = m.model.recipe.numLabels;
  return { logits: out.logits!, n, names: labelNames(m.model.recipe.id2label, n), config: m.config, tokens };
}

/** The model a sequence-classification task can use: an encoder with that head, or BART with its classifier. */
function requireClassifier(model: LoadedModel, task: string): void {
  if (model.kind === 'seq2seq' && model.model.classifier) return;
  requireHead(model, task, 'sequence-classification');
}

/**
 * One vector per text from the encoder's token states, through the model's sentence-transformers modules
 * (Pooling, Dense, Normalize); a head option replaces only what it sets. Without modules.json: mean pooling,
 * L2-normalised.
 */
export function sentenceEmbeddings(m: Encoder, enc: BatchEncoding, out: EncoderResult, head: HeadOptions['embed']): Float32Array[] {
  const H = out.hiddenSize;
  const modes: PoolingMode[] = head.pooling ? [head.pooling] : m.sentence?.pooling ?? ['mean'];
  const parts = modes.map((mode) => pool(mode, out.lastHiddenState, enc.attentionMask, enc.batch, enc.length, H));
  let dim = H * modes.length;
  let x = parts.length === 1 ? parts[0] : new Float32Array(enc.batch * dim);
  if (parts.length > 1) for (let b = 0; b < enc.batch; b++) parts.forEach((p, k) => x.set(p.subarray(b * H, (b + 1) * H), b * dim + k * H));
  for (const layer of m.sentence?.dense ?? []) {
    if (layer.inFeatures !== dim) throw new TaskError(`${m.dir}: a Dense module takes ${layer.inFeatures} features but the pooled vector has ${dim}`);
    x = applyDense(layer, x, enc.batch);
    dim = layer.outFeatures;
  }
  if (head.normalize ?? m.sentence?.normalize ?? true) l2Normalize(x, dim);
  return Array.from({ length: enc.batch }, (_, i) => x.slice(i * dim, (i + 1) * dim));
}

export const embedTask: Task<'embed', { embedding: Float32Array }> = {
  name: 'embed',
  kinds: ['encoder'],
  async run(model, records, options) {
    const m = requireKind(model, 'embed', ['encoder']);
    const enc = encodeBatch(m, records, options.tokenizer, { maxLength: m.sentence?.maxSeqLength, lowercase: m.sentence?.lowercase });
    const out = await m.model.forward(enc);
    return { results: sentenceEmbeddings(m, enc, out, options.head).map((embedding) => ({ embedding })), tokens: countTokens(enc.attentionMask) };
  },
};

export const classifyTask: Task<'classify', { label: string; score: number; labels: LabelScore[] }> = {
  name: 'classify',
  kinds: ['encoder', 'seq2seq'],
  check: (model) => requireClassifier(model, 'classify'),
  async run(model, records, options) {
    // A record with a second text is a pair (premise/hypothesis, query/passage): both reach the model.
    const pairs = records.some((r) => r.pair !== undefined) ? 'longest_first' : undefined;
    const { logits, n, names, config, tokens } = await sequenceLogits(model, 'classify', records, options.tokenizer, pairs);
    const fn = options.head.functionToApply ?? defaultClassifyFunction(config.str('problem_type', '') || undefined, n);
    return {
      results: records.map((_, i) => {
        const labels = classifyLogits(logits.subarray(i * n, (i + 1) * n), names, fn);
        return { label: labels[0].label, score: labels[0].score, labels: labels.slice(0, options.head.topK ?? 1) };
      }),
      tokens,
    };
  },
};

/**
 * Cross-encoder scores of (query, document) pairs, as sentence-transformers' CrossEncoder.predict: pairs cut
 * longest-first at the model's limit, the first logit (every logit for multi-label models) through the model's
 * activation.
 */
export const rerankTask: Task<'rerank', { score: number; scores: number[] }> = {
  name: 'rerank',
  kinds: ['encoder'],
  async run(model, records, options) {
    for (const r of records) if (r.pair === undefined) throw new TaskError(`record ${r.index}: rerank needs a document (pair) for the query "${r.text.slice(0, 40)}"`);
    const { m, out, tokens } = await runHead(model, 'rerank', 'sequence-classification', records, options.tokenizer, { pairs: 'longest_first' });
    const n = m.model.recipe.numLabels;
    const act = ACTIVATE[options.head.activation ?? crossEncoderActivation(m.config, n)];
    return {
      results: records.map((_, i) => {
        const scores = Array.from(out.logits!.subarray(i * n, (i + 1) * n), act);
        return { score: scores[0], scores };
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
    const unkToken = m.tokenizer.config.specialTokens?.unk_token;
    const unkId = unkToken === undefined ? undefined : m.tokenizer.tokenToId(unkToken);
    const hasSubwordPrefix = m.tokenizer.model.kind === 'wordpiece';
    const join = (words: string[]) => m.tokenizer.tokensToString(words);
    return {
      results: records.map((r, i) => {
        const e = enc.encodings[i];
        const preds = tokenPredictions(out.logits!.subarray(i * L * n, (i * L + e.ids.length) * n), n, {
          text: r.text, tokens: e.tokens, ids: e.ids, offsets: e.offsets, special: e.specialTokensMask, unkId, hasSubwordPrefix,
        });
        return { entities: aggregateEntities(preds, names, options.head.aggregation ?? 'simple', join, options.head.ignoreLabels) };
      }),
      tokens,
    };
  },
};

export type QaResult = (Answer | { answer: null; score: 0 }) & { answers: Answer[] };

/**
 * Records carry the question as `text` and the context as `pair`. A long context is read in windows of
 * maxLength tokens that share docStride tokens, each run alone, as Hugging Face's question-answering pipeline.
 */
export const qaTask: Task<'qa', QaResult> = {
  name: 'qa',
  kinds: ['encoder'],
  async run(model, records, options) {
    const m = requireHead(model, 'qa', 'question-answering');
    const { topK: k = 1, maxAnswerLen = 15, handleImpossibleAnswer = false } = options.head;
    const maxLength = Math.min(options.tokenizer.maxLength ?? 384, inputLimit(m));
    const docStride = options.head.docStride ?? Math.min(Math.floor(maxLength / 2), 128);
    const clsId = m.tokenizer.specialTokenId('cls_token');
    let tokens = 0;
    const results: QaResult[] = [];
    for (const r of records) {
      if (r.pair === undefined) throw new TaskError(`record ${r.index}: question answering needs a context (pair) for the question "${r.text.slice(0, 40)}"`);
      const encodings = m.tokenizer.encodeWindows(r.text, r.pair, { maxLength, stride: docStride });
      const windows = [];
      for (const e of encodings) {
        const enc = m.tokenizer.pad([e]);
        const out = await m.model.forward(enc);
        tokens += e.ids.length;
        const n = e.ids.length;
        const clsIndex = clsId === undefined ? undefined : e.ids.indexOf(clsId);
        windows.push({
          startLogits: Array.from({ length: n }, (_, t) => out.logits![t * 2]),
          endLogits: Array.from({ length: n }, (_, t) => out.logits![t * 2 + 1]),
          sequenceIds: e.sequenceIds, wordIds: e.wordIds, offsets: e.offsets,
          clsIndex: clsIndex !== undefined && clsIndex >= 0 ? clsIndex : undefined,
        });
      }
      const answers = answerSpans(windows, r.pair, { topK: k, maxAnswerLen, handleImpossibleAnswer });
      results.push(answers.length ? { ...answers[0], answers } : { answer: null, score: 0, answers });
    }
    return { results, tokens };
  },
};

export interface FillMaskPrediction {
  tokenId: number;
  /** decode([tokenId]): Hugging Face's token_str. */
  token: string;
  score: number;
  sequence: string;
}

/** Fill-mask `targets` as ids: a vocabulary entry as is, else the first token of its encoding; duplicates merged. */
function targetIds(m: Encoder, targets: string[]): number[] {
  const ids = targets.map((t) => {
    const id = m.tokenizer.tokenToId(t) ?? m.tokenizer.encode(t, undefined, { addSpecialTokens: false }).ids[0];
    if (id === undefined) throw new TaskError(`fill-mask target ${JSON.stringify(t)} gives no token`);
    return id;
  });
  return [...new Set(ids)];
}

export const fillMaskTask: Task<'fill-mask', { masks: FillMaskPrediction[][] }> = {
  name: 'fill-mask',
  kinds: ['encoder'],
  async run(model, records, options) {
    const { m, enc, out, tokens } = await runHead(model, 'fill-mask', 'masked-lm', records, options.tokenizer);
    const maskToken = m.tokenizer.config.specialTokens?.mask_token ?? ['[MASK]', '<mask>'].find((t) => m.tokenizer.tokenToId(t) !== undefined);
    const maskId = maskToken === undefined ? undefined : m.tokenizer.tokenToId(maskToken);
    if (maskId === undefined) throw new TaskError(`${m.dir}: the tokenizer has no mask token`);
    const V = m.model.recipe.vocabSize;
    const L = enc.length;
    const targets = options.head.targets ? targetIds(m, options.head.targets) : undefined;
    const k = Math.min(options.head.topK ?? 5, targets?.length ?? Infinity);
    return {
      results: records.map((r, i) => {
        const e = enc.encodings[i];
        const positions = e.ids.flatMap((id, t) => (id === maskId ? [t] : []));
        if (!positions.length) throw new TaskError(`record ${r.index}: no ${maskToken} in "${r.text.slice(0, 60)}"`);
        // One mask: the filled text without special tokens; several: each keeps the others' masks and the specials.
        const skipSpecialTokens = positions.length === 1;
        return {
          masks: positions.map((t) => {
            const p = softmax(out.logits!.subarray((i * L + t) * V, (i * L + t + 1) * V));
            const ids = targets ? [...targets].sort((a, b) => p[b] - p[a] || a - b).slice(0, k) : topK(p, k);
            return ids.map((id) => {
              const filled = e.ids.map((x, j) => (j === t ? id : x));
              // token_str is decode([id]) with transformers' default: a special token predicted shows as itself
              return { tokenId: id, token: m.tokenizer.decode([id], { skipSpecialTokens: false }), score: p[id], sequence: m.tokenizer.decode(filled, { skipSpecialTokens }) };
            });
          }),
        };
      }),
      tokens,
    };
  },
};

/** The NLI label ids zero-shot classification reads: entailment (first label starting "entail"), contradiction. */
function nliIds(config: ConfigReader, numLabels: number): { entailment: number; contradiction: number } {
  const label2id = config.raw.label2id;
  const entries = typeof label2id === 'object' && label2id !== null ? Object.entries(label2id) : [];
  const found = entries.find(([name]) => name.toLowerCase().startsWith('entail'));
  if (!found || typeof found[1] !== 'number') throw new TaskError(`${config.file}: zero-shot needs an NLI model: no label2id entry starts with "entail"`);
  return { entailment: found[1], contradiction: found[1] === 0 ? numLabels - 1 : 0 };
}

/**
 * Zero-shot classification with an NLI model, as Hugging Face's pipeline: each candidate label becomes a
 * hypothesis (the template with the label in place of {}) paired with the text; one softmax over the
 * candidates' entailment logits, or with multiLabel (or one label) entailment against contradiction per label.
 */
export const zeroShotTask: Task<'zero-shot', { label: string; score: number; labels: LabelScore[] }> = {
  name: 'zero-shot',
  kinds: ['encoder', 'seq2seq'],
  check(model, options) {
    requireClassifier(model, 'zero-shot');
    if (!options.head.candidateLabels?.length) throw new TaskError('zero-shot needs head.candidateLabels (at least one label)');
    if (options.head.hypothesisTemplate !== undefined && !options.head.hypothesisTemplate.includes('{}')) {
      throw new TaskError(`head.hypothesisTemplate ${JSON.stringify(options.head.hypothesisTemplate)} has no {} where the label goes`);
    }
    nliIds(model.config, Object.keys(model.config.labels() ?? {}).length);
  },
  async run(model, records, options) {
    const labels = options.head.candidateLabels ?? [];
    if (!labels.length) throw new TaskError('zero-shot needs head.candidateLabels (at least one label)');
    const template = options.head.hypothesisTemplate ?? 'This example is {}.';
    const pairs = records.flatMap((r) => labels.map((label): TextRecord => ({ index: r.index, text: r.text, pair: template.replace('{}', label) })));
    const { logits, n, config, tokens } = await sequenceLogits(model, 'zero-shot', pairs, options.tokenizer, 'only_first');
    const { entailment, contradiction } = nliIds(config, n);
    const logit = (i: number, c: number) => logits[i * n + c];
    const multi = options.head.multiLabel === true || labels.length === 1;
    return {
      results: records.map((_, r) => {
        const at = (j: number) => r * labels.length + j;
        const scores = multi
          ? labels.map((_, j) => softmax([logit(at(j), contradiction), logit(at(j), entailment)])[1])
          : softmax(labels.map((_, j) => logit(at(j), entailment)));
        const ranked = topK(scores, scores.length).map((j) => ({ label: labels[j], score: scores[j] }));
        return { label: ranked[0].label, score: ranked[0].score, labels: ranked };
      }),
      tokens,
    };
  },
};
