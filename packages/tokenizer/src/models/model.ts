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

export class Vocab {
  private readonly toId = new Map<string, number>();
  private readonly toToken: string[] = [];

  static fromMap(map: Record<string, number>): Vocab {
    const v = new Vocab();
    for (const [token, id] of Object.entries(map)) v.add(token, id);
    return v;
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
