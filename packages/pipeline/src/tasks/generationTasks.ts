import { beamSearch, generateTokens, tokenStream, type DecodingSession, type GenerateOptions, type TokenEvent } from '@attnflow/decoder';
import type { LoadedModel, Seq2SeqInputs } from '@attnflow/models';
import type { Observable } from 'rxjs';
import { countTokens, requireKind, TaskError, type Task, type TextRecord } from './task.js';

export interface GenerationOptions extends Omit<GenerateOptions, 'onToken' | 'stopSequences' | 'eosTokenId' | 'padTokenId'> {
  /** Stop a text when its output ends with one of these strings. */
  stop?: string[];
  /** Maximum input tokens (longer inputs are truncated from the left for prompts, the right for sources). */
  maxInputTokens?: number;
}

export interface GenerationResult {
  /** The generated text (the continuation; for seq2seq the whole output), special tokens removed. */
  generated: string;
  /** The generated token ids, up to and including EOS. */
  tokens: number[];
}

type Causal = Extract<LoadedModel, { kind: 'causal' }>;
type Seq2Seq = Extract<LoadedModel, { kind: 'seq2seq' }>;

function generationDefaults(m: LoadedModel): { eos?: number; pad: number } {
  if (m.kind === 'seq2seq') return { eos: m.model.recipe.eosTokenId, pad: m.model.recipe.padTokenId };
  if (m.kind === 'causal') {
    const eos = m.model.recipe.eosTokenId;
    return { eos, pad: m.tokenizer.padTokenId ?? eos ?? 0 };
  }
  throw new TaskError('generation needs a causal or encoder-decoder model');
}

function stopSequences(m: LoadedModel, stop: string[] | undefined): number[][] | undefined {
  return stop?.map((s) => m.tokenizer.encode(s, undefined, { addSpecialTokens: false }).ids);
}

function trimAtStop(text: string, stop: string[] | undefined): string {
  let cut = text.length;
  for (const s of stop ?? []) {
    const at = text.indexOf(s);
    if (at >= 0) cut = Math.min(cut, at);
  }
  return text.slice(0, cut);
}

function promptIds(m: Causal, text: string, maxInputTokens?: number): number[] {
  let ids = m.tokenizer.encode(text).ids;
  if (!ids.length) ids = m.model.recipe.bosTokenId !== undefined ? [m.model.recipe.bosTokenId] : [];
  if (!ids.length) throw new TaskError('an empty prompt needs a model with a bos_token_id');
  const limit = Math.min(maxInputTokens ?? Infinity, m.model.recipe.maxPositions - 1);
  return ids.length > limit ? ids.slice(ids.length - limit) : ids;
}

async function decodeAll(m: LoadedModel, rows: number[][], stop?: string[]): Promise<GenerationResult[]> {
  const { eos, pad } = generationDefaults(m);
  return rows.map((tokens) => {
    const end = tokens.findIndex((t) => t === eos);
    const kept = end >= 0 ? tokens.slice(0, end + 1) : tokens.filter((t, i) => !(t === pad && tokens.slice(i).every((x) => x === pad)));
    return { generated: trimAtStop(m.tokenizer.decode(kept), stop), tokens: kept };
  });
}

/** Greedy/sampled decoding, or beam search when numBeams > 1, over a started session, which it always frees. */
async function decodeSession(started: Promise<{ session: DecodingSession; logits: Float32Array }>, prompts: number[][], gen: GenerateOptions): Promise<number[][]> {
  const { session, logits } = await started;
  try {
    return (gen.numBeams ?? 1) > 1 ? await beamSearch(session, logits, prompts.length, gen) : await generateTokens(session, logits, prompts, gen);
  } finally {
    session.dispose();
  }
}

/** Continuations of token prompts with a causal LM. */
function runCausal(m: Causal, prompts: number[][], gen: GenerateOptions & { maxNewTokens: number; padTokenId: number }): Promise<number[][]> {
  return decodeSession(m.model.start(prompts, { maxNewTokens: gen.maxNewTokens, padTokenId: gen.padTokenId, beams: gen.numBeams }), prompts, gen);
}

/** Outputs of an encoder-decoder for a right-padded batch of sources: encode once, decode, free both. */
export async function runSeq2Seq(m: Seq2Seq['model'], inputs: Seq2SeqInputs, gen: GenerateOptions & { maxNewTokens: number }): Promise<number[][]> {
  const encoded = await m.encode(inputs);
  try {
    return await decodeSession(m.start(encoded, { maxNewTokens: gen.maxNewTokens, beams: gen.numBeams }), Array.from({ length: inputs.batch }, () => []), gen);
  } finally {
    encoded.dispose();
  }
}

/** Text generation with a causal LM (GPT-2): the continuation of each prompt. */
export const generateTask: Task<GenerationOptions, GenerationResult> = {
  name: 'generate',
  kinds: ['causal'],
  async run(model, records, options) {
    const m = requireKind(model, 'generate', ['causal']);
    const { eos, pad } = generationDefaults(m);
    const maxNewTokens = Math.min(options.maxNewTokens ?? 20, m.model.recipe.maxPositions);
    const prompts = records.map((r) => promptIds(m, r.text, Math.min(options.maxInputTokens ?? Infinity, m.model.recipe.maxPositions - maxNewTokens)));
    const rows = await runCausal(m, prompts, { ...options, maxNewTokens, eosTokenId: eos, padTokenId: pad, stopSequences: stopSequences(m, options.stop) });
    return { results: await decodeAll(m, rows, options.stop), tokens: prompts.reduce((n, p) => n + p.length, 0) + rows.reduce((n, r) => n + r.length, 0) };
  },
};

/** Translation / summarisation with an encoder-decoder (BART, Marian, T5). */
export const text2textTask: Task<GenerationOptions, GenerationResult> = {
  name: 'text2text',
  kinds: ['seq2seq'],
  async run(model, records, options) {
    const m: Seq2Seq = requireKind(model, 'translate/summarize', ['seq2seq']);
    const maxLength = options.maxInputTokens ?? (m.model.recipe.maxPositions || 512);
    const enc = m.tokenizer.encodeBatch(records.map((r) => r.text), { maxLength, paddingSide: 'right' });
    const { eos, pad } = generationDefaults(m);
    const rows = await runSeq2Seq(m.model, enc, { ...options, maxNewTokens: options.maxNewTokens ?? 64, eosTokenId: eos, padTokenId: pad, stopSequences: stopSequences(m, options.stop) });
    return { results: await decodeAll(m, rows, options.stop), tokens: countTokens(enc.attentionMask) + rows.reduce((n, r) => n + r.length, 0) };
  },
};

/**
 * Tokens of one prompt as they are produced, with text deltas that never split a character; unsubscribing
 * stops generation.
 */
export function generateStream(model: LoadedModel, prompt: string, options: GenerationOptions = {}): Observable<TokenEvent> {
  const m = requireKind(model, 'generate', ['causal', 'seq2seq']);
  const { eos, pad } = generationDefaults(m);
  const maxNewTokens = options.maxNewTokens ?? 20;
  return tokenStream(async (onToken, signal) => {
    // Streaming shows one continuation as it grows, so it decodes greedily or by sampling, never by beams.
    const gen = { ...options, numBeams: 1, maxNewTokens, eosTokenId: eos, padTokenId: pad, stopSequences: stopSequences(m, options.stop), signal, onToken: (_: number, t: number) => { if (t !== eos) onToken(t); } };
    if (m.kind === 'causal') await runCausal(m, [promptIds(m, prompt, options.maxInputTokens)], gen);
    else await runSeq2Seq(m.model, m.tokenizer.encodeBatch([prompt]), gen);
  }, (ids) => m.tokenizer.decode(ids));
}

export type { TextRecord };
