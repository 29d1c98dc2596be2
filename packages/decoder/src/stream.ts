import { Observable } from 'rxjs';

/**
 * Text deltas from a growing list of token ids, never splitting a multi-byte character: the text is decoded
 * whole each time and only a suffix without a trailing U+FFFD (an incomplete UTF-8 sequence) is released.
 */
export class IncrementalDecoder {
  private ids: number[] = [];
  private emitted = '';

  constructor(private readonly decode: (ids: number[]) => string) {}

  push(id: number): string {
    this.ids.push(id);
    const text = this.decode(this.ids);
    if (text.endsWith('\ufffd') || !text.startsWith(this.emitted)) return '';
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }

  /** Whatever is left at the end, replacement characters included. */
  flush(): string {
    const text = this.decode(this.ids);
    const delta = text.startsWith(this.emitted) ? text.slice(this.emitted.length) : '';
    this.emitted = text;
    return delta;
  }
}

export interface TokenEvent {
  token: number;
  /** The new text this token completes (may be empty while a character is incomplete). */
  text: string;
}

/** An Observable of tokens as they are generated, built from a function that takes an onToken callback. */
export function tokenStream(run: (onToken: (token: number) => void, signal: AbortSignal) => Promise<unknown>, decode: (ids: number[]) => string): Observable<TokenEvent> {
  return new Observable<TokenEvent>((subscriber) => {
    const controller = new AbortController();
    const decoder = new IncrementalDecoder(decode);
    run((token) => subscriber.next({ token, text: decoder.push(token) }), controller.signal)
      .then(() => {
        const rest = decoder.flush();
        if (rest) subscriber.next({ token: -1, text: rest });
        subscriber.complete();
      })
      .catch((e) => (controller.signal.aborted ? subscriber.complete() : subscriber.error(e)));
    return () => controller.abort();
  });
}
