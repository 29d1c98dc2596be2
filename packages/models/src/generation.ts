/**
 * `generate` for every generating model: the model's own generation settings (generation_config.json, else the
 * generation fields of config.json) resolved once with the caller's, the length settled against the model's
 * positions, then greedy, sampled or beam decoding over the model's decoding session.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from '@attnflow/checkpoint';
import { decode, eosIds, generationConfigFromJson, resolveGenerationConfig, tokenStream, type DecodeConfig, type DecodeHooks, type DecodingSession, type GenerationConfig, type TokenEvent } from '@attnflow/decoder';
import type { Observable } from 'rxjs';
import { ConfigError, type ConfigReader } from './config.js';

/** When neither maxNewTokens nor maxLength is set anywhere: a short continuation, a sentence-length output. */
export const DEFAULT_MAX_NEW_TOKENS = { causal: 20, seq2seq: 64 } as const;

/**
 * The model's generation defaults, as Hugging Face loads them: generation_config.json when the directory has
 * one, else the generation fields of config.json (older checkpoints keep num_beams, max_length… there). Special
 * token ids a generation_config.json leaves out still come from config.json, where the model defines them.
 */
export function readGenerationConfig(dir: string, config: ConfigReader): GenerationConfig {
  const fromConfig = generationConfigFromJson(config.raw, config.file);
  const file = join(dir, 'generation_config.json');
  if (!existsSync(file)) return fromConfig;
  const json = readJsonFile(file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`${file}: expected a JSON object`);
  const { bosTokenId, eosTokenId, padTokenId, decoderStartTokenId } = fromConfig;
  return resolveGenerationConfig({ bosTokenId, eosTokenId, padTokenId, decoderStartTokenId }, generationConfigFromJson(json, file));
}

/** What a decoder-only language model offers: GPT-2 and every later causal LM implement it. */
export interface CausalLM {
  readonly recipe: { vocabSize: number; numHeads: number; maxPositions: number; bosTokenId?: number; eosTokenId?: number };
  /** The model's own generation settings (see readGenerationConfig). */
  readonly generationConfig: GenerationConfig;
  /** Logits for every position of a left-padded batch, (batch, length, vocab); attention weights on request. */
  forward(inputs: { batch: number; length: number; inputIds: Int32Array; attentionMask: Int32Array }, options?: { outputAttentions?: boolean }): Promise<{ logits: Float32Array; attentions?: Float32Array[] }>;
  /** A decoding session after the (left-padded) prompts, each repeated `beams` times, and the logits after them. */
  start(prompts: number[][], options: { maxNewTokens: number; padTokenId: number; beams?: number }): Promise<{ session: DecodingSession; logits: Float32Array }>;
  /** Continuations of token prompts (generateCausal with this model). */
  generate(prompts: number[][], config?: GenerationConfig, hooks?: DecodeHooks): Promise<number[][]>;
  /** One prompt's continuation as it is produced (streamGeneration with this model). */
  generateStream(prompts: number[][], config: GenerationConfig | undefined, decodeText: (ids: number[]) => string, stopSequences?: number[][]): Observable<TokenEvent>;
  dispose(): void;
}

/**
 * −log p of each token of `ids` after the first, given the ones before it (one forward pass), summed: a text's
 * perplexity is exp(nll / tokens).
 */
export async function negativeLogLikelihood(model: CausalLM, ids: readonly number[]): Promise<{ nll: number; tokens: number }> {
  const { logits } = await model.forward({ batch: 1, length: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1) });
  const V = logits.length / ids.length;
  let nll = 0;
  for (let t = 1; t < ids.length; t++) {
    const row = logits.subarray((t - 1) * V, t * V);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    nll += Math.log(sum) + max - row[ids[t]];
  }
  return { nll, tokens: Math.max(0, ids.length - 1) };
}

/** The caller's settings over the model's, with the pad id every batch needs (EOS when the model has no pad). */
export function generationSettings(defaults: GenerationConfig, overrides: GenerationConfig | undefined): GenerationConfig & { padTokenId: number } {
  const config = resolveGenerationConfig(defaults, overrides);
  return { ...config, padTokenId: config.padTokenId ?? [...eosIds(config)][0] ?? 0 };
}

/**
 * How many tokens a run may add: maxNewTokens, else maxLength minus what is already there (Hugging Face's
 * precedence), else the default; never more than the positions left.
 */
function settle(config: GenerationConfig, already: number, positionsLeft: number, fallback: number): DecodeConfig {
  const wanted = config.maxNewTokens ?? (config.maxLength !== undefined ? config.maxLength - already : fallback);
  if (wanted < 1) throw new ConfigError(`maxLength ${config.maxLength} leaves no room to generate after ${already} tokens`);
  return { ...config, maxNewTokens: Math.min(wanted, positionsLeft) };
}

/** The longest prompt that still leaves room to generate, for callers that cut prompts before generating. */
export function promptRoom(model: CausalLM, overrides: GenerationConfig | undefined): number {
  const config = resolveGenerationConfig(model.generationConfig, overrides);
  const positions = model.recipe.maxPositions;
  if (config.maxNewTokens === undefined && config.maxLength !== undefined) return Math.min(config.maxLength, positions) - 1;
  const wanted = config.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS.causal;
  if (wanted >= positions) throw new ConfigError(`maxNewTokens ${wanted} leaves no room for a prompt: the model has ${positions} positions (at most ${positions - 1})`);
  return positions - wanted;
}

/** Continuations of token prompts: the generated ids per prompt, each up to and including its EOS. */
export async function generateCausal(model: CausalLM, prompts: number[][], overrides?: GenerationConfig, hooks?: DecodeHooks): Promise<number[][]> {
  const settings = generationSettings(model.generationConfig, overrides);
  const longest = Math.max(0, ...prompts.map((p) => p.length));
  const config = settle(settings, longest, model.recipe.maxPositions - longest, DEFAULT_MAX_NEW_TOKENS.causal);
  return decode(model.start(prompts, { maxNewTokens: config.maxNewTokens, padTokenId: settings.padTokenId, beams: config.numBeams }), prompts, config, hooks);
}

/** What an encoder-decoder offers to generation: encode once, then decode from the decoder start token. */
export interface Seq2SeqLM<Inputs extends { batch: number }, Encoded extends { dispose(): void }> {
  readonly recipe: { maxPositions: number };
  readonly generationConfig: GenerationConfig;
  encode(inputs: Inputs): Promise<Encoded>;
  /** A session after the decoder start token, and the logits of the first generated token. */
  start(encoded: Encoded, options: { maxNewTokens: number; beams?: number; decoderStartTokenId?: number }): Promise<{ session: DecodingSession; logits: Float32Array }>;
}

/** Outputs of an encoder-decoder for a right-padded batch of sources: encode once, decode, free both. */
export async function generateSeq2Seq<I extends { batch: number }, E extends { dispose(): void }>(
  model: Seq2SeqLM<I, E>, inputs: I, overrides?: GenerationConfig, hooks?: DecodeHooks,
): Promise<number[][]> {
  const settings = generationSettings(model.generationConfig, overrides);
  // The decoder's output starts with the start token, which maxLength counts (as Hugging Face does).
  const config = settle(settings, 1, model.recipe.maxPositions || Infinity, DEFAULT_MAX_NEW_TOKENS.seq2seq);
  const encoded = await model.encode(inputs);
  try {
    const started = model.start(encoded, { maxNewTokens: config.maxNewTokens, beams: config.numBeams, decoderStartTokenId: config.decoderStartTokenId });
    // The decoder's sequence starts with its start token: the processors count it, as Hugging Face's do.
    const start = config.decoderStartTokenId;
    return await decode(started, Array.from({ length: inputs.batch }, () => (start === undefined ? [] : [start])), config, hooks);
  } finally {
    encoded.dispose();
  }
}

/** The end-of-sequence ids a run with these settings stops at. */
export const eosIdsOf = (model: { generationConfig: GenerationConfig }, overrides?: GenerationConfig): Set<number> =>
  eosIds(resolveGenerationConfig(model.generationConfig, overrides));

/**
 * One output as it is produced, with text deltas that never split a character; unsubscribing stops generation.
 * Streaming shows one continuation as it grows, so it decodes greedily or by sampling, never by beams.
 */
export function streamGeneration(
  model: { generationConfig: GenerationConfig }, run: (config: GenerationConfig, hooks: DecodeHooks) => Promise<unknown>,
  overrides: GenerationConfig | undefined, decodeText: (ids: number[]) => string, stopSequences?: number[][],
): Observable<TokenEvent> {
  const eos = eosIdsOf(model, overrides);
  return tokenStream(
    (onToken, signal) => run({ ...overrides, numBeams: 1 }, { signal, stopSequences, onToken: (_row, token) => { if (!eos.has(token)) onToken(token); } }),
    decodeText,
  );
}
