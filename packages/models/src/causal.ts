/**
 * What every causal LM's decoding session shares: prompts left-padded into one batch, and per row the mask of
 * every position fed so far and the next position id (Hugging Face's cumsum(mask) − 1 for the prompt, then +1
 * per token).
 */
import type { DecodeHooks, DecodingSession, GenerationConfig, TokenEvent } from '@attnflow/decoder';
import { maskedPositions } from '@attnflow/embedding';
import { disposeCache, reorderCache, type KVCache } from '@attnflow/layers';
import type { Scope, Tensor } from '@attnflow/tensor';
import type { Observable } from 'rxjs';
import { ConfigError } from './config.js';
import { generateCausal, streamGeneration, type CausalLM } from './generation.js';

/** Prompts (each repeated `beams` times) left-padded to the longest: ids/mask (rows, length). */
export function leftPadPrompts(
  prompts: number[][], options: { maxNewTokens: number; padTokenId: number; beams?: number }, maxPositions: number,
): { rows: number; length: number; capacity: number; ids: Int32Array; mask: Int32Array } {
  const beams = options.beams ?? 1;
  const rows = prompts.flatMap((p) => new Array<number[]>(beams).fill(p));
  const length = Math.max(...rows.map((p) => p.length));
  if (length === 0) throw new ConfigError('generation needs a prompt of at least one token (add a BOS token to an empty text)');
  const capacity = length + options.maxNewTokens;
  if (capacity > maxPositions) throw new ConfigError(`prompt (${length} tokens) + maxNewTokens (${options.maxNewTokens}) exceeds the model's ${maxPositions} positions`);
  const ids = new Int32Array(rows.length * length).fill(options.padTokenId);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((p, r) => {
    ids.set(p, r * length + length - p.length);
    mask.fill(1, r * length + length - p.length, (r + 1) * length);
  });
  return { rows: rows.length, length, capacity, ids, mask };
}

/** Per row: which fed positions are real tokens, and the position id the next token gets. */
export class PositionTracker {
  private mask: number[][];
  private nextPosition: number[];

  constructor(readonly rows: number) {
    this.mask = Array.from({ length: rows }, () => []);
    this.nextPosition = new Array<number>(rows).fill(0);
  }

  /** Positions fed so far per row (real and padding). */
  get length(): number {
    return this.mask[0].length;
  }

  /** Records n new positions per row (mask (rows, n)) and returns their position ids (rows, n). */
  advance(newMask: Int32Array, n: number): Int32Array {
    const { rows } = this;
    const positions = this.length === 0 ? maskedPositions(newMask, rows, n) : new Int32Array(rows * n);
    if (this.length) for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) positions[r * n + i] = this.nextPosition[r] + i;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < n; i++) this.mask[r].push(newMask[r * n + i]);
      this.nextPosition[r] = positions[r * n + n - 1] + 1;
    }
    return positions;
  }

  /** The mask of every position fed so far, (rows, length). */
  keyMask(scope: Scope): Tensor<'int32'> {
    return scope.i32(this.mask.flat(), [this.rows, this.length]);
  }

  reorder(order: readonly number[]): void {
    this.mask = order.map((r) => [...this.mask[r]]);
    this.nextPosition = order.map((r) => this.nextPosition[r]);
  }
}

/** h (rows·n, hidden) -> (rows, hidden): each row's last position, the only one generation needs logits for. */
export function lastPositions(scope: Scope, h: Tensor<'float32'>, rows: number, n: number, hidden: number): Tensor<'float32'> {
  if (n === 1) return h;
  const last = scope.f32([rows, hidden]);
  for (let r = 0; r < rows; r++) last.data.set(h.data.subarray((r * n + n - 1) * hidden, (r * n + n) * hidden), r * hidden);
  return last;
}

/** A causal model's session: it reads tokens for every row and gives the logits (all positions or the last). */
export interface FeedingSession extends DecodingSession {
  /** tokens/mask (rows, n) → logits; with `attentions`, each layer's weights (rows, heads, n, keys) are appended. */
  feed(tokens: Int32Array, n: number, mask: Int32Array, allPositions: boolean, attentions?: Float32Array[]): Promise<Float32Array>;
}

/**
 * What every causal model's session keeps: a key/value cache per layer and the positions fed so far, reordered
 * together for beam search and freed together. A model supplies `feed`, its forward pass over them.
 */
export abstract class CachedSession implements FeedingSession {
  protected readonly positions: PositionTracker;

  constructor(readonly rows: number, readonly vocabSize: number, protected readonly caches: KVCache[]) {
    this.positions = new PositionTracker(rows);
  }

  /** Positions fed so far per row (real and padding). */
  get length(): number {
    return this.positions.length;
  }

  abstract feed(tokens: Int32Array, n: number, mask: Int32Array, allPositions: boolean, attentions?: Float32Array[]): Promise<Float32Array>;

  step(tokens: Int32Array, n: number): Promise<Float32Array> {
    return this.feed(tokens, n, new Int32Array(this.rows * n).fill(1), false);
  }

  reorder(order: readonly number[]): void {
    for (const c of this.caches) reorderCache(c, order);
    this.positions.reorder(order);
  }

  dispose(): void {
    for (const c of this.caches) disposeCache(c);
  }
}

/**
 * What every decoder-only model does the same way over its own session: a forward pass is a session that reads the
 * whole batch once; generation starts one on left-padded prompts. A model supplies its session and its weights.
 */
export abstract class CausalModel<S extends FeedingSession> implements CausalLM {
  abstract readonly recipe: CausalLM['recipe'];
  abstract readonly generationConfig: GenerationConfig;
  /** A session for `rows` sequences of up to `capacity` positions. */
  protected abstract session(rows: number, capacity: number): S;
  abstract dispose(): void;

  /**
   * Logits for every position of a left-padded batch: (batch, length, vocab); with outputAttentions, the causal
   * self-attention weights of every layer, (batch, heads, length, length) each.
   */
  async forward(
    inputs: { batch: number; length: number; inputIds: Int32Array; attentionMask: Int32Array },
    options: { outputAttentions?: boolean } = {},
  ): Promise<{ logits: Float32Array; attentions?: Float32Array[] }> {
    const session = this.session(inputs.batch, inputs.length);
    try {
      const attentions = options.outputAttentions ? [] as Float32Array[] : undefined;
      return { logits: await session.feed(inputs.inputIds, inputs.length, inputs.attentionMask, true, attentions), attentions };
    } finally {
      session.dispose();
    }
  }

  /** A decoding session over left-padded prompts (each repeated `beams` times) and the logits after them. */
  async start(prompts: number[][], options: { maxNewTokens: number; padTokenId: number; beams?: number }): Promise<{ session: S; logits: Float32Array }> {
    const batch = leftPadPrompts(prompts, options, this.recipe.maxPositions);
    const session = this.session(batch.rows, batch.capacity);
    try {
      return { session, logits: await session.feed(batch.ids, batch.length, batch.mask, false) };
    } catch (e) {
      session.dispose();
      throw e;
    }
  }

  /** Continuations of token prompts with this model's generation settings under `config`. */
  generate(prompts: number[][], config?: GenerationConfig, hooks?: DecodeHooks): Promise<number[][]> {
    return generateCausal(this, prompts, config, hooks);
  }

  generateStream(prompts: number[][], config: GenerationConfig | undefined, decodeText: (ids: number[]) => string, stopSequences?: number[][]): Observable<TokenEvent> {
    return streamGeneration(this, (c, hooks) => this.generate(prompts, c, hooks), config, decodeText, stopSequences);
  }
}
