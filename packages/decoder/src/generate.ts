import { logSoftmax } from '@attnflow/kernels';
import { eosIds, type GenerationConfig } from './config.js';
import { applyRepetitionPenalty, argmax, sample, samplingDistribution, seededRandom } from './sampling.js';

/**
 * What generation needs from a model: feed new tokens for every row, get the logits of each row's last
 * position. GPT-2 and the encoder-decoders each implement it over their key/value caches.
 */
export interface DecodingSession {
  rows: number;
  vocabSize: number;
  /** tokens (rows, n) appended to every row -> logits (rows, vocab) at each row's last position. */
  step(tokens: Int32Array, n: number): Promise<Float32Array>;
  /** Row i continues from row order[i] (beam search). */
  reorder(order: readonly number[]): void;
  dispose(): void;
}

/** What a caller can attach to one decoding run, besides the configuration. */
export interface DecodeHooks {
  /** Called as each row produces a token (not for beam search, whose tokens are known only at the end). */
  onToken?: (row: number, token: number) => void;
  /** Stops a row when its generated tokens end with any of these sequences (stop strings, tokenized). */
  stopSequences?: number[][];
  /** Aborts between steps. */
  signal?: AbortSignal;
}

/** A configuration with its length settled: how many tokens this run may generate at most. */
export type DecodeConfig = GenerationConfig & { maxNewTokens: number };

/**
 * Greedy decoding or sampling for every row of a session. `prompts` are each row's tokens so far (for the
 * repetition penalty); the session has already consumed them and `first` holds the logits after them.
 * Returns the generated tokens per row; rows that finished early are padded with padTokenId.
 */
export async function generateTokens(session: DecodingSession, first: Float32Array, prompts: number[][], config: DecodeConfig, hooks: DecodeHooks = {}): Promise<number[][]> {
  const { maxNewTokens, doSample = false, repetitionPenalty = 1, padTokenId = 0 } = config;
  const eos = eosIds(config);
  const random = seededRandom(config.seed ?? 0);
  const V = session.vocabSize;
  const rows = session.rows;
  const out: number[][] = Array.from({ length: rows }, () => []);
  const done = new Array<boolean>(rows).fill(false);
  let logits = first;
  for (let step = 0; step < maxNewTokens; step++) {
    hooks.signal?.throwIfAborted();
    const next = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      if (done[r]) {
        next[r] = padTokenId;
        continue;
      }
      const row = logits.subarray(r * V, (r + 1) * V);
      if (repetitionPenalty !== 1) applyRepetitionPenalty(row, [...prompts[r], ...out[r]], repetitionPenalty);
      const token = doSample ? sample(samplingDistribution(row, config), random) : argmax(row);
      next[r] = token;
      out[r].push(token);
      hooks.onToken?.(r, token);
      if (eos.has(token) || endsWithStop(out[r], hooks.stopSequences)) done[r] = true;
    }
    if (done.every(Boolean) || step === maxNewTokens - 1) break;
    logits = await session.step(next, 1);
  }
  const longest = Math.max(0, ...out.map((o) => o.length));
  return out.map((o) => [...o, ...new Array<number>(longest - o.length).fill(padTokenId)]);
}

function endsWithStop(tokens: number[], stops: number[][] | undefined): boolean {
  return !!stops?.some((s) => s.length > 0 && s.length <= tokens.length && s.every((t, i) => tokens[tokens.length - s.length + i] === t));
}

interface Hypothesis {
  tokens: number[];
  score: number;
}

/**
 * Beam search exactly as the fixtures (and Hugging Face) define it. The session has rows = inputs × numBeams,
 * beams of one input adjacent, and has consumed the prompts; `first` holds the logits after them.
 * Returns the best finished hypothesis (generated tokens only) per input.
 */
export async function beamSearch(session: DecodingSession, first: Float32Array, inputs: number, config: DecodeConfig, hooks: DecodeHooks = {}): Promise<number[][]> {
  const { maxNewTokens, lengthPenalty = 1, earlyStopping = true } = config;
  const K = config.numBeams ?? 1;
  const eos = eosIds(config);
  const pad = config.padTokenId ?? 0;
  const V = session.vocabSize;
  if (session.rows !== inputs * K) throw new RangeError(`beam search needs ${inputs * K} session rows, got ${session.rows}`);
  const scores = Float64Array.from({ length: inputs * K }, (_, r) => (r % K === 0 ? 0 : -1e9));
  let beams: number[][] = Array.from({ length: inputs * K }, () => []);
  const finished: Hypothesis[][] = Array.from({ length: inputs }, () => []);
  const done = new Array<boolean>(inputs).fill(false);
  const addFinished = (b: number, tokens: number[], sumLogprob: number) => {
    const score = sumLogprob / Math.pow(tokens.length, lengthPenalty);
    const list = finished[b];
    if (list.length < K || score > list[list.length - 1].score) {
      list.push({ tokens, score });
      list.sort((x, y) => y.score - x.score);
      if (list.length > K) list.pop();
    }
  };
  const logp = new Float64Array(V);
  let logits = first;
  for (let step = 0; step < maxNewTokens; step++) {
    hooks.signal?.throwIfAborted();
    const order: number[] = [];
    const next = new Int32Array(inputs * K);
    const nextScores = new Float64Array(inputs * K);
    const nextBeams: number[][] = [];
    for (let b = 0; b < inputs; b++) {
      if (done[b]) {
        for (let k = 0; k < K; k++) {
          order.push(b * K + k);
          next[b * K + k] = pad;
          nextScores[b * K + k] = scores[b * K + k];
          nextBeams.push(beams[b * K + k]);
        }
        continue;
      }
      // Candidates over beams × vocab: keep the best 2K by running score.
      const cand: { score: number; beam: number; token: number }[] = [];
      for (let k = 0; k < K; k++) {
        const r = b * K + k;
        logSoftmax(logp, logits.subarray(r * V, (r + 1) * V));
        for (let t = 0; t < V; t++) {
          const s = logp[t] + scores[r];
          if (cand.length < 2 * K) {
            cand.push({ score: s, beam: r, token: t });
            cand.sort((x, y) => y.score - x.score);
          } else if (s > cand[cand.length - 1].score) {
            cand[cand.length - 1] = { score: s, beam: r, token: t };
            cand.sort((x, y) => y.score - x.score);
          }
        }
      }
      let kept = 0;
      for (let rank = 0; rank < cand.length && kept < K; rank++) {
        const c = cand[rank];
        if (eos.has(c.token)) {
          if (rank < K) addFinished(b, [...beams[c.beam], c.token], c.score);
          continue;
        }
        const r = b * K + kept;
        order.push(c.beam);
        next[r] = c.token;
        nextScores[r] = c.score;
        nextBeams.push([...beams[c.beam], c.token]);
        kept++;
      }
      if (earlyStopping && finished[b].length >= K) done[b] = true;
    }
    beams = nextBeams;
    scores.set(nextScores);
    if (done.every(Boolean)) break;
    if (step === maxNewTokens - 1) {
      for (let b = 0; b < inputs; b++) if (!done[b]) for (let k = 0; k < K; k++) addFinished(b, beams[b * K + k], scores[b * K + k]);
      break;
    }
    session.reorder(order);
    logits = await session.step(next, 1);
  }
  return finished.map((list) => list[0]?.tokens ?? []);
}

/**
 * Greedy/sampled decoding, or beam search when numBeams > 1, over a session that has read its prompts; the
 * session is always freed. `prompts` are the rows' tokens so far (for the repetition penalty).
 */
export async function decode(
  started: Promise<{ session: DecodingSession; logits: Float32Array }>, prompts: number[][], config: DecodeConfig, hooks: DecodeHooks = {},
): Promise<number[][]> {
  const { session, logits } = await started;
  try {
    return (config.numBeams ?? 1) > 1 ? await beamSearch(session, logits, prompts.length, config, hooks) : await generateTokens(session, logits, prompts, config, hooks);
  } finally {
    session.dispose();
  }
}
