import { TokenizerError } from '../errors.js';
import type { Model, ModelToken } from './model.js';
import { Vocab } from './model.js';

interface Symbol {
  value: string;
  start: number;
  end: number;
  prev: number;
  next: number;
}

/** A pending merge of the symbol at `pos` with the next one, which then ended at `mid` and `end`. */
type Merge = [rank: number, pos: number, mid: number, end: number];

/** A binary min-heap of pending merges, ordered by rank then position (as Hugging Face breaks ties). */
class MergeQueue {
  private items: Merge[] = [];
  push(item: Merge): void {
    const a = this.items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): Merge | undefined {
    const a = this.items;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && less(a[l], a[m])) m = l;
        if (r < a.length && less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
const less = (x: Merge, y: Merge) => x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);

/**
 * Byte-pair encoding: start from characters, repeatedly merge the adjacent pair with the lowest merge rank.
 * A heap over a linked list of symbols keeps a long word O(n log n) instead of O(n²).
 */
export function bpe(cfg: Record<string, any>, file?: string): Model {
  const vocab = Vocab.fromMap(cfg.vocab, 'BPE', file);
  const prefix: string = cfg.continuing_subword_prefix ?? '';
  const ranks = new Map<string, number>();
  if (!Array.isArray(cfg.merges)) throw new TokenizerError(`${file ?? 'tokenizer.json'}: model.merges must be a list of merges, got ${JSON.stringify(cfg.merges)?.slice(0, 40)}`);
  (cfg.merges as unknown[]).forEach((m, rank) => {
    const [a, b] = mergePair(m, rank, file);
    // As Hugging Face's BPE builder: both parts and their merge must be tokens of the vocabulary.
    for (const t of [a, b, mergedValue(a, b, prefix)]) vocab.require(t, `model.merges[${rank}] (${JSON.stringify(m)}) needs token`, file);
    ranks.set(`${a} ${b}`, rank);
  });
  const unk: string | null = cfg.unk_token ?? null;
  const unkId = unk === null ? undefined : vocab.require(unk, 'model.unk_token', file);
  const suffix: string = cfg.end_of_word_suffix ?? '';
  const fuseUnk: boolean = cfg.fuse_unk ?? false;
  const byteFallback: boolean = cfg.byte_fallback ?? false;
  const ignoreMerges: boolean = cfg.ignore_merges ?? false;
  const cache = new Map<string, ModelToken[]>();

  function merge(word: string): ModelToken[] {
    if (ignoreMerges) {
      const id = vocab.id(word);
      if (id !== undefined) return [{ id, value: word, start: 0, end: word.length }];
    }
    const chars = Array.from(word);
    const syms: Symbol[] = [];
    let at = 0;
    chars.forEach((ch, i) => {
      const value = (i > 0 ? prefix : '') + ch + (i === chars.length - 1 ? suffix : '');
      syms.push({ value, start: at, end: at + ch.length, prev: i - 1, next: i + 1 < chars.length ? i + 1 : -1 });
      at += ch.length;
    });
    const queue = new MergeQueue();
    const consider = (i: number) => {
      const j = syms[i].next;
      if (j < 0) return;
      const rank = ranks.get(`${syms[i].value} ${syms[j].value}`);
      if (rank !== undefined) queue.push([rank, i, syms[i].end, syms[j].end]);
    };
    for (let i = 0; i < syms.length; i++) consider(i);
    for (let item = queue.pop(); item; item = queue.pop()) {
      const [, i, mid, end] = item;
      const s = syms[i];
      const j = s.next;
      // A stale entry: either symbol has merged since it was queued (symbols only grow rightwards, so their ends
      // tell), which Hugging Face sees as the pair no longer merging into the queued token. Checking the right
      // symbol alone ran entries whose left one had grown, into tokens outside the vocabulary that were then
      // dropped (" Ñavevtc" lost "avev").
      if (!s.value || j < 0 || s.end !== mid || syms[j].end !== end) continue;
      const r = syms[j];
      s.value = mergedValue(s.value, r.value, prefix);
      s.end = r.end;
      s.next = r.next;
      if (r.next >= 0) syms[r.next].prev = i;
      r.value = '';
      if (s.prev >= 0) consider(s.prev);
      consider(i);
    }
    const out: ModelToken[] = [];
    for (let i = 0; i >= 0 && i < syms.length; i = syms[i].next) {
      const s = syms[i];
      const id = vocab.id(s.value);
      if (id !== undefined) {
        out.push({ id, value: s.value, start: s.start, end: s.end });
        continue;
      }
      if (byteFallback) {
        const bytes = [...new TextEncoder().encode(word.slice(s.start, s.end))].map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
        const ids = bytes.map((b) => vocab.id(b));
        if (ids.every((x) => x !== undefined)) {
          bytes.forEach((b, k) => out.push({ id: ids[k]!, value: b, start: s.start, end: s.end }));
          continue;
        }
      }
      if (unk === null || unkId === undefined) continue; // no unk token: the symbol is dropped, as Hugging Face does
      const last = out[out.length - 1];
      if (fuseUnk && last && last.id === unkId && last.end === s.start) last.end = s.end;
      else out.push({ id: unkId, value: unk, start: s.start, end: s.end });
    }
    return out;
  }

  return {
    kind: 'bpe',
    vocab,
    tokenize(word: string): ModelToken[] {
      const hit = cache.get(word);
      if (hit) return hit.map((t) => ({ ...t }));
      const out = merge(word);
      if (word.length < 256) {
        if (cache.size > 50_000) cache.clear();
        cache.set(word, out.map((t) => ({ ...t })));
      }
      return out;
    },
  };
}

/** "a b" or ["a", "b"] → [a, b]; a string merge is split on the single space between the two parts. */
function mergePair(m: unknown, rank: number, file?: string): [string, string] {
  const bad = (): never => {
    throw new TokenizerError(`${file ?? 'tokenizer.json'}: model.merges[${rank}] is ${JSON.stringify(m)?.slice(0, 60)}, expected "a b" or ["a", "b"]`);
  };
  if (typeof m === 'string') {
    const i = m.indexOf(' ', 1);
    return i < 0 ? bad() : [m.slice(0, i), m.slice(i + 1)];
  }
  return Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string' ? [m[0], m[1]] : bad();
}

function mergedValue(left: string, right: string, prefix: string): string {
  return left + (prefix && right.startsWith(prefix) ? right.slice(prefix.length) : right);
}
