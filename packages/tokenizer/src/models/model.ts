/** A token the model produced: `start..end` are UTF-16 offsets into the piece it was given. */
export interface ModelToken {
  id: number;
  value: string;
  start: number;
  end: number;
}

export interface Model {
  /** The algorithm, for behaviour Hugging Face ties to it (BPE tokenizers never clean up spaces when decoding). */
  kind: 'bpe' | 'unigram' | 'wordpiece';
  vocab: Vocab;
  tokenize(piece: string): ModelToken[];
}

import { TokenizerError } from '../errors.js';

export class Vocab {
  private readonly toId = new Map<string, number>();
  private readonly toToken: string[] = [];

  /** A `{ token: id }` vocabulary, checked: `kind` and `file` name it in errors. */
  static fromMap(map: unknown, kind: string, file?: string): Vocab {
    const where = `${file ?? 'tokenizer.json'}: model.vocab`;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new TokenizerError(`${where} must be an object of token → id for ${kind}, got ${Array.isArray(map) ? 'an array' : JSON.stringify(map)?.slice(0, 40)}`);
    const v = new Vocab();
    for (const [token, id] of Object.entries(map)) {
      if (!Number.isSafeInteger(id) || (id as number) < 0) throw new TokenizerError(`${where}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected a non-negative integer`);
      v.add(token, id as number);
    }
    return v;
  }

  /** Throws unless `token` is in the vocabulary (an unk or special token the model needs). */
  require(token: string, field: string, file?: string): number {
    const id = this.id(token);
    if (id === undefined) throw new TokenizerError(`${file ?? 'tokenizer.json'}: ${field} ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  static fromList(tokens: readonly string[]): Vocab {
    const v = new Vocab();
    tokens.forEach((t, i) => v.add(t, i));
    return v;
  }

  add(token: string, id: number): void {
    if (!this.toId.has(token)) this.toId.set(token, id);
    this.toToken[id] = token;
  }

  id(token: string): number | undefined {
    return this.toId.get(token);
  }

  token(id: number): string | undefined {
    return this.toToken[id];
  }

  get size(): number {
    return this.toToken.length;
  }
}
