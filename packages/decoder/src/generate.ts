import { logSoftmax } from '@attnflow/kernels';
import { eosIds, type GenerationConfig } from './config.js';
import { applyProcessors, logitsProcessors } from './processors.js';
import { argmax, sample, samplingDistribution, seededRandom } from './sampling.js';

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
 * Greedy decoding or sampling for every row of a session. `prompts` are each row's tokens so far (the prompt of
 * a causal LM, the decoder start token of an encoder-decoder); the session has already consumed them and `first`
 * holds the logits after them. The logits processors run on the raw logits, then the sampler or argmax.
 * Returns the generated tokens per row; rows that finished early are padded with padTokenId.
 */
export async function generateTokens(session: DecodingSession, first: Float32Array, prompts: number[][], config: DecodeConfig, hooks: DecodeHooks = {}): Promise<number[][]> {
  const { maxNewTokens, doSample = false, padTokenId = 0 } = config;
  const eos = eosIds(config);
  const processors = logitsProcessors(config);
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
      applyProcessors(processors, { scores: row, sequence: [...prompts[r], ...out[r]], promptLength: prompts[r].length, maxLength: prompts[r].length + maxNewTokens });
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

interface Candidate {
  score: number;
  beam: number;
  token: number;
}

/** The best n of the scores (beams × vocab), best first; ties: lower beam, then lower token. */
function topCandidates(logp: Float64Array[], base: number, n: number): Candidate[] {
  const cand: Candidate[] = [];
  logp.forEach((row, k) => {
    for (let t = 0; t < row.length; t++) {
      const s = row[t];
      if (cand.length === n && !(s > cand[n - 1].score)) continue;
      let at = cand.length === n ? n - 1 : cand.length;
      while (at > 0 && cand[at - 1].score < s) at--;
      cand.splice(at, 0, { score: s, beam: base + k, token: t });
      if (cand.length > n) cand.pop();
    }
  });
  return cand;
}

/**
 * Beam search as Hugging Face's `generate` runs it. The session has rows = inputs × numBeams, beams of one input
 * adjacent, and has consumed the prompts (`prompts`: one per input); `first` holds the logits after them. Each
 * step: log-softmax, the logits processors, plus the running score; the best 2·numBeams continuations; those
 * among the first numBeams that end (EOS or the length limit) become finished hypotheses scored
 * Σ logprob / length^lengthPenalty; the best numBeams unfinished run on. earlyStopping true closes an input once
 * numBeams hypotheses have finished; false (and "never") once the best running beam cannot beat the worst of them.
 * Returns the best finished hypothesis (generated tokens only) per input.
 */
export async function beamSearch(session: DecodingSession, first: Float32Array, prompts: number[][], config: DecodeConfig, hooks: DecodeHooks = {}): Promise<number[][]> {
  const { maxNewTokens, lengthPenalty = 1, earlyStopping = false } = config;
  const inputs = prompts.length;
  const K = config.numBeams ?? 1;
  const eos = eosIds(config);
  const processors = logitsProcessors(config);
  const pad = config.padTokenId ?? 0;
  const V = session.vocabSize;
  if (session.rows !== inputs * K) throw new RangeError(`beam search needs ${inputs * K} session rows, got ${session.rows}`);
  const keep = Math.max(2, 1 + eos.size) * K;
  const scores = Float64Array.from({ length: inputs * K }, (_, r) => (r % K === 0 ? 0 : -1e9));
  let beams: number[][] = Array.from({ length: inputs * K }, () => []);
  const finished: Hypothesis[][] = Array.from({ length: inputs }, () => []);
  // Hugging Face's is_early_stop_heuristic_unsatisfied: false once no running beam can improve the finished set.
  const improvable = new Array<boolean>(inputs).fill(true);
  const full = (b: number) => finished[b].length >= K;
  let logits = first;
  for (let step = 0; step < maxNewTokens; step++) {
    hooks.signal?.throwIfAborted();
    const order: number[] = [];
    const next = new Int32Array(inputs * K);
    const nextScores = new Float64Array(inputs * K);
    const nextBeams: number[][] = [];
    for (let b = 0; b < inputs; b++) {
      const maxLength = prompts[b].length + maxNewTokens;
      const logp = Array.from({ length: K }, (_, k) => {
        const r = b * K + k;
        const row = new Float64Array(V);
        logSoftmax(row, logits.subarray(r * V, (r + 1) * V));
        const scored = Float32Array.from(row);
        applyProcessors(processors, { scores: scored, sequence: [...prompts[b], ...beams[r]], promptLength: prompts[b].length, maxLength });
        for (let t = 0; t < V; t++) row[t] = scored[t] + scores[r];
        return row;
      });
      const cand = topCandidates(logp, b * K, keep);
      const ends = (c: Candidate) => eos.has(c.token) || step === maxNewTokens - 1;
      // Finished hypotheses: only candidates ranked among the first K, and only while they can still count.
      const closed = (full(b) && earlyStopping === true) || !improvable[b];
      if (!closed) {
        for (const c of cand.slice(0, K)) {
          if (!ends(c)) continue;
          const tokens = [...beams[c.beam], c.token];
          finished[b].push({ tokens, score: c.score / Math.pow(tokens.length, lengthPenalty) });
        }
        finished[b].sort((x, y) => y.score - x.score);
        finished[b].length = Math.min(finished[b].length, K);
      }
      const running = cand.map((c) => ({ ...c, score: ends(c) ? c.score - 1e9 : c.score })).sort((x, y) => y.score - x.score).slice(0, K);
      running.forEach((c, k) => {
        order.push(c.beam);
        next[b * K + k] = ends(c) ? pad : c.token;
        nextScores[b * K + k] = c.score;
        nextBeams.push([...beams[c.beam], c.token]);
      });
      if (full(b)) {
        const generated = step + 1;
        const hypothetical = earlyStopping === 'never' && lengthPenalty > 0 ? maxNewTokens : generated;
        if (!(running[0].score / Math.pow(hypothetical, lengthPenalty) > finished[b][K - 1].score)) improvable[b] = false;
      }
    }
    beams = nextBeams;
    scores.set(nextScores);
    const open = (b: number) => improvable[b] && !(full(b) && earlyStopping === true);
    if (step === maxNewTokens - 1 || !Array.from({ length: inputs }, (_, b) => b).some(open)) break;
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
    return (config.numBeams ?? 1) > 1 ? await beamSearch(session, logits, prompts, config, hooks) : await generateTokens(session, logits, prompts, config, hooks);
  } finally {
    session.dispose();
  }
}
