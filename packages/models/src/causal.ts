/**
 * What every causal LM's decoding session shares: prompts left-padded into one batch, and per row the mask of
 * every position fed so far and the next position id (Hugging Face's cumsum(mask) − 1 for the prompt, then +1
 * per token).
 */
import { maskedPositions } from '@attnflow/embedding';
import type { Scope, Tensor } from '@attnflow/tensor';
import { ConfigError } from './config.js';

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
