import { Vocab, type Model, type ModelToken } from './model.js';

/**
 * SentencePiece's BPE (bpe_model.cc), which has scores instead of a merge list: starting from characters, the
 * adjacent pair whose concatenation is the highest-scoring piece (the leftmost on ties) merges, until no pair is
 * a piece. Symbols left that are not pieces become one unknown token per run. Works within one Metaspace word.
 */
export function sentencePieceBpe(vocab: [string, number][], unkId: number, unmatchable: readonly number[] = []): Model {
  const skip = new Set(unmatchable);
  const pieces = new Map<string, { id: number; score: number }>();
  vocab.forEach(([piece, score], id) => {
    if (!skip.has(id) && !pieces.has(piece)) pieces.set(piece, { id, score });
  });
  const v = Vocab.fromList(vocab.map(([p]) => p));
  return {
    kind: 'bpe',
    vocab: v,
    tokenize(word: string): ModelToken[] {
      // symbols as [start, end) UTF-16 ranges of whole code points
      const symbols: [number, number][] = [];
      for (let i = 0; i < word.length; ) {
        const n = word.codePointAt(i)! > 0xffff ? 2 : 1;
        symbols.push([i, i + n]);
        i += n;
      }
      for (;;) {
        let best = -1;
        let bestScore = -Infinity;
        for (let k = 0; k + 1 < symbols.length; k++) {
          const merged = pieces.get(word.slice(symbols[k][0], symbols[k + 1][1]));
          if (merged && merged.score > bestScore) {
            best = k;
            bestScore = merged.score;
          }
        }
        if (best < 0) break;
        symbols.splice(best, 2, [symbols[best][0], symbols[best + 1][1]]);
      }
      // as SentencePieceProcessor does, a run of unknown symbols is one unknown piece
      const out: ModelToken[] = [];
      for (const [start, end] of symbols) {
        const value = word.slice(start, end);
        const id = pieces.get(value)?.id ?? unkId;
        const prev = out[out.length - 1];
        if (id === unkId && prev?.id === unkId) {
          prev.value += value;
          prev.end = end;
        } else out.push({ id, value, start, end });
      }
      return out;
    },
  };
}
