import type { Model, ModelToken } from './model.js';
import { Vocab } from './model.js';

/** BERT's WordPiece: greedy longest-match-first within a word; continuations carry a prefix ("##"). */
export function wordPiece(cfg: Record<string, any>, file?: string): Model {
  const vocab = Vocab.fromMap(cfg.vocab, 'WordPiece', file);
  const unk: string = cfg.unk_token ?? '[UNK]';
  const prefix: string = cfg.continuing_subword_prefix ?? '##';
  const maxChars: number = cfg.max_input_chars_per_word ?? 100;
  // Hugging Face fails on the first unknown word without it; checked up front instead of silently dropping words.
  const unkId = vocab.require(unk, 'model.unk_token', file);
  return {
    kind: 'wordpiece',
    vocab,
    tokenize(word: string): ModelToken[] {
      // pos[i]: UTF-16 offset of code point i, so candidates are slices, not re-joined arrays.
      const pos: number[] = [];
      for (let i = 0; i < word.length; i += word.codePointAt(i)! > 0xffff ? 2 : 1) pos.push(i);
      pos.push(word.length);
      const n = pos.length - 1;
      if (n > maxChars) return [{ id: unkId, value: unk, start: 0, end: word.length }];
      const out: ModelToken[] = [];
      for (let start = 0; start < n; ) {
        let end = n;
        let found: ModelToken | undefined;
        for (; end > start; end--) {
          const sub = (start > 0 ? prefix : '') + word.slice(pos[start], pos[end]);
          const id = vocab.id(sub);
          if (id !== undefined) {
            found = { id, value: sub, start: pos[start], end: pos[end] };
            break;
          }
        }
        // One unmatched part makes the whole word unknown, as in BERT.
        if (!found) return [{ id: unkId, value: unk, start: 0, end: word.length }];
        out.push(found);
        start = end;
      }
      return out;
    },
  };
}
