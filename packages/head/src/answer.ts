export interface Answer {
  answer: string;
  score: number;
  /** UTF-16 offsets into the context. */
  start: number;
  end: number;
}

/** One window of a question and a part of its context, as the tokenizer encoded it. */
export interface AnswerWindow {
  startLogits: ArrayLike<number>;
  endLogits: ArrayLike<number>;
  /** 1 for context tokens, 0 for the question, null for special tokens. */
  sequenceIds: (number | null)[];
  wordIds: (number | null)[];
  offsets: [number, number][];
  /** Position of [CLS] (the "no answer" token), if the window has one. */
  clsIndex?: number;
}

export interface AnswerOptions {
  topK?: number;
  /** Longest answer in tokens (Hugging Face's max_answer_len, default 15). */
  maxAnswerLen?: number;
  /** Also offer "no answer" ({answer: '', start: 0, end: 0}) with the [CLS] score. */
  handleImpossibleAnswer?: boolean;
}

/** Softmax over the candidate tokens (context and [CLS]); the rest count as logit -10000, as Hugging Face masks them. */
function probabilities(logits: ArrayLike<number>, candidate: boolean[]): Float64Array {
  const x = Float64Array.from({ length: candidate.length }, (_, i) => (candidate[i] ? logits[i] : -10000));
  const max = Math.max(...x);
  let z = 0;
  for (let i = 0; i < x.length; i++) z += x[i] = Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) x[i] /= z;
  return x;
}

/** The characters of token i's whole word (its first to last token in this window). */
function wordChars(w: AnswerWindow, i: number): [number, number] {
  const word = w.wordIds[i];
  let first = i;
  let last = i;
  while (first > 0 && w.wordIds[first - 1] === word && w.sequenceIds[first - 1] === 1) first--;
  while (last + 1 < w.wordIds.length && w.wordIds[last + 1] === word && w.sequenceIds[last + 1] === 1) last++;
  return [w.offsets[first][0], w.offsets[last][1]];
}

/**
 * Extractive question answering over the windows of one long context, as Hugging Face's question-answering
 * pipeline: per window, start and end probabilities over the context tokens; span scores p_start·p_end with
 * start ≤ end < start + maxAnswerLen, the best 2·topK + 10 of them; spans widened to whole words; equal answers
 * (ignoring case) add up their scores; the best topK over all windows.
 */
export function answerSpans(windows: AnswerWindow[], context: string, options: AnswerOptions = {}): Answer[] {
  const { topK = 1, maxAnswerLen = 15, handleImpossibleAnswer = false } = options;
  const answers: Answer[] = [];
  let minNull = Infinity;
  for (const w of windows) {
    const n = w.sequenceIds.length;
    const candidate = Array.from({ length: n }, (_, i) => w.sequenceIds[i] === 1 || i === w.clsIndex);
    const ps = probabilities(w.startLogits, candidate);
    const pe = probabilities(w.endLogits, candidate);
    if (w.clsIndex !== undefined) {
      minNull = Math.min(minNull, ps[w.clsIndex] * pe[w.clsIndex]);
      ps[w.clsIndex] = 0;
      pe[w.clsIndex] = 0;
    }
    const spans: { s: number; e: number; score: number }[] = [];
    for (let s = 0; s < n; s++) for (let e = s; e < Math.min(n, s + maxAnswerLen); e++) spans.push({ s, e, score: ps[s] * pe[e] });
    // numpy's argsort of the negated flat scores: ties keep the flat (start, end) order.
    spans.sort((a, b) => b.score - a.score);
    for (const { s, e, score } of spans.slice(0, 2 * topK + 10)) {
      if (w.sequenceIds[s] !== 1 || w.sequenceIds[e] !== 1) continue;
      const start = wordChars(w, s)[0];
      const end = wordChars(w, e)[1];
      const answer = context.slice(start, end);
      const same = answers.find((a) => a.answer.toLowerCase() === answer.toLowerCase());
      if (same) same.score += score;
      else answers.push({ answer, score, start, end });
    }
  }
  if (handleImpossibleAnswer && windows.length) answers.push({ answer: '', score: minNull, start: 0, end: 0 });
  return answers.sort((a, b) => b.score - a.score).slice(0, topK);
}
