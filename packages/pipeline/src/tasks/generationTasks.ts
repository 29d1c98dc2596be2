import { beamSearch, generateTokens, tokenStream, type GenerateOptions, type TokenEvent } from '@attnflow/decoder';
import type { LoadedModel } from '@attnflow/models';
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

/** Text generation with a causal LM (GPT-2): the continuation of each prompt. */
export const generateTask: Task<GenerationOptions, GenerationResult> = {
  name: 'generate',
  kinds: ['causal'],
  async run(model, records, options) {
    const m = requireKind(model, 'generate', ['causal']);
    const { eos, pad } = generationDefaults(m);
    const maxNewTokens = Math.min(options.maxNewTokens ?? 20, m.model.recipe.maxPositions);
    const prompts = records.map((r) => promptIds(m, r.text, Math.min(options.maxInputTokens ?? Infinity, m.model.recipe.maxPositions - maxNewTokens)));
    const beams = options.numBeams ?? 1;
    const { session, logits } = await m.model.start(prompts, { maxNewTokens, padTokenId: pad, beams });
    try {
      const gen = { ...options, maxNewTokens, eosTokenId: eos, padTokenId: pad, stopSequences: stopSequences(m, options.stop) };
      const rows = beams > 1 ? await beamSearch(session, logits, records.length, gen) : await generateTokens(session, logits, prompts, gen);
      return { results: await decodeAll(m, rows, options.stop), tokens: prompts.reduce((n, p) => n + p.length, 0) + rows.reduce((n, r) => n + r.length, 0) };
    } finally {
      session.dispose();
    }
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
    const encoded = await m.model.encode(enc);
    const beams = options.numBeams ?? 1;
    const maxNewTokens = options.maxNewTokens ?? 64;
    try {
      const { session, logits } = await m.model.start(encoded, { maxNewTokens, beams });
      try {
        const { eos, pad } = generationDefaults(m);
        const gen = { ...options, maxNewTokens, eosTokenId: eos, padTokenId: pad, stopSequences: stopSequences(m, options.stop) };
        const rows = beams > 1 ? await beamSearch(session, logits, records.length, gen) : await generateTokens(session, logits, records.map(() => []), gen);
        return { results: await decodeAll(m, rows, options.stop), tokens: countTokens(enc.attentionMask) + rows.reduce((n, r) => n + r.length, 0) };
      } finally {
        session.dispose();
      }
    } finally {
      encoded.dispose();
    }
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
    const gen = { ...options, maxNewTokens, eosTokenId: eos, padTokenId: pad, stopSequences: stopSequences(m, options.stop), signal, onToken: (_: number, t: number) => { if (t !== eos) onToken(t); } };
    if (m.kind === 'causal') {
      const ids = promptIds(m, prompt, options.maxInputTokens);
      const { session, logits } = await m.model.start([ids], { maxNewTokens, padTokenId: pad });
      try {
        await generateTokens(session, logits, [ids], gen);
      } finally {
        session.dispose();
      }
    } else {
      const encoded = await m.model.encode(m.tokenizer.encodeBatch([prompt]));
      try {
        const { session, logits } = await m.model.start(encoded, { maxNewTokens });
        try {
          await generateTokens(session, logits, [[]], gen);
        } finally {
          session.dispose();
        }
      } finally {
        encoded.dispose();
      }
    }
  }, (ids) => m.tokenizer.decode(ids));
}

export type { TextRecord };
