/**
 * The logits processors of a GenerationConfig, in the order Hugging Face's `generate` builds them:
 * repetition penalty → no-repeat n-grams → bad words → min length → min new tokens → forced BOS → forced EOS →
 * suppressed tokens → (renormalisation last). Greedy and sampling run them on the raw logits, beam search on the
 * log-softmax scores, as Hugging Face does.
 */
import { logSoftmax } from '@attnflow/kernels';
import { eosIds, type GenerationConfig } from './config.js';

/** One row's scores (vocab,) and the sequence so far: the prompt (causal) or the decoder start token (seq2seq). */
export interface ProcessorInput {
  scores: Float32Array;
  sequence: readonly number[];
  /** How many tokens of `sequence` came before generation (Hugging Face's input_ids_seq_length). */
  promptLength: number;
  /** The length a run may reach (Hugging Face's max_length: prompt + new tokens). */
  maxLength: number;
}

export type LogitsProcessor = (row: ProcessorInput) => void;

/** CTRL's penalty: a token already in the sequence has its score divided by the penalty if positive, else multiplied. */
function repetitionPenalty(penalty: number): LogitsProcessor {
  return ({ scores, sequence }) => {
    for (const id of new Set(sequence)) scores[id] = scores[id] < 0 ? scores[id] * penalty : scores[id] / penalty;
  };
}

/** Tokens that would complete an n-gram the sequence already has are banned. */
function noRepeatNgram(n: number): LogitsProcessor {
  return ({ scores, sequence }) => {
    const len = sequence.length;
    if (len + 1 < n) return;
    const prefix = sequence.slice(len - n + 1);
    for (let i = 0; i + n <= len; i++) {
      let same = true;
      for (let k = 0; k < n - 1 && same; k++) same = sequence[i + k] === prefix[k];
      if (same) scores[sequence[i + n - 1]] = -Infinity;
    }
  };
}

/** A one-token entry is always banned; a longer one bans its last token after the others. EOS entries are dropped. */
function badWords(entries: readonly number[][], eos: Set<number>): LogitsProcessor {
  const kept = entries.filter((w) => !(w.length === 1 && eos.has(w[0])));
  return ({ scores, sequence }) => {
    for (const w of kept) {
      const head = w.length - 1;
      if (head > sequence.length) continue;
      let match = true;
      for (let k = 0; k < head && match; k++) match = sequence[sequence.length - head + k] === w[k];
      if (match) scores[w[head]] = -Infinity;
    }
  };
}

function banEos(eos: Set<number>, when: (row: ProcessorInput) => boolean): LogitsProcessor {
  return (row) => {
    if (when(row)) for (const id of eos) row.scores[id] = -Infinity;
  };
}

/** Every token but `id` gets -inf, `id` gets 0. */
function force(scores: Float32Array, id: number): void {
  scores.fill(-Infinity);
  scores[id] = 0;
}

/** The processors a configuration asks for, in Hugging Face's order (the renormalisation excepted: see below). */
export function logitsProcessors(config: GenerationConfig): LogitsProcessor[] {
  const eos = eosIds(config);
  const out: LogitsProcessor[] = [];
  if (config.repetitionPenalty !== undefined && config.repetitionPenalty !== 1) out.push(repetitionPenalty(config.repetitionPenalty));
  if (config.noRepeatNgramSize) out.push(noRepeatNgram(config.noRepeatNgramSize));
  if (config.badWordsIds?.length) out.push(badWords(config.badWordsIds, eos));
  if (config.minLength && eos.size) out.push(banEos(eos, (r) => r.sequence.length < config.minLength!));
  if (config.minNewTokens && eos.size) out.push(banEos(eos, (r) => r.sequence.length - r.promptLength < config.minNewTokens!));
  const bos = config.forcedBosTokenId;
  if (bos !== undefined) out.push((r) => r.sequence.length === 1 && force(r.scores, bos));
  const forcedEos = config.forcedEosTokenId;
  if (forcedEos !== undefined) out.push((r) => r.sequence.length === r.maxLength - 1 && force(r.scores, forcedEos));
  const suppress = config.suppressTokens;
  if (suppress?.length) out.push((r) => suppress.forEach((id) => (r.scores[id] = -Infinity)));
  // renormalize_logits: a log-softmax after every other processor, so banned tokens' mass is given back.
  if (config.renormalizeLogits) {
    out.push(({ scores }) => {
      const logp = new Float64Array(scores.length);
      logSoftmax(logp, scores);
      scores.set(logp);
    });
  }
  return out;
}

/** Runs the processors over one row, in place. */
export function applyProcessors(processors: readonly LogitsProcessor[], row: ProcessorInput): void {
  for (const p of processors) p(row);
}
