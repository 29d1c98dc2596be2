/** Units of Unicode normalization: ASCII runs (without the last character when a combining mark follows it), else a base and its marks. */
const CLUSTERS = /[\x00-\x7f]+(?!\p{M})|\P{M}\p{M}*|\p{M}+/gsu;

/**
 * A string being normalized, with every UTF-16 unit of the current text aligned to the range of the original
 * text it came from, so that tokens can report offsets into what the user passed in (Hugging Face's
 * NormalizedString, simplified to per-code-point transforms).
 */
export class NormalizedString {
  constructor(
    readonly original: string,
    public text: string,
    /** starts[i], ends[i]: the original range (UTF-16 units) of text unit i. */
    public starts: number[],
    public ends: number[],
  ) {}

  /**
   * `offset`: where the text starts in the input it was cut from (between added tokens), so that offsets —
   * and Metaspace's "first section" test — refer to the whole input.
   */
  static from(text: string, offset = 0): NormalizedString {
    const starts = new Array<number>(text.length);
    const ends = new Array<number>(text.length);
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      for (let k = 0; k < w; k++) {
        starts[i + k] = offset + i;
        ends[i + k] = offset + i + w;
      }
      i += w;
    }
    return new NormalizedString(text, text, starts, ends);
  }

  /**
   * Rewrites the text one code point at a time: `f` returns the replacement (possibly empty, possibly several
   * code points); every output unit keeps the original range of the code point it came from.
   */
  mapCodePoints(f: (char: string, cp: number) => string): void {
    const { text } = this;
    // Nothing is copied until the first code point actually changes: most texts pass most steps unchanged.
    let out: string[] | undefined;
    let starts: number[] = [];
    let ends: number[] = [];
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      const ch = w === 2 ? text.slice(i, i + 2) : text[i];
      const rep = f(ch, cp);
      if (rep !== ch && !out) {
        out = [text.slice(0, i)];
        starts = this.starts.slice(0, i);
        ends = this.ends.slice(0, i);
      }
      if (out) {
        if (rep === ch) {
          out.push(ch);
          for (let k = 0; k < w; k++) {
            starts.push(this.starts[i + k]);
            ends.push(this.ends[i + k]);
          }
        } else if (rep.length) {
          out.push(rep);
          for (let k = 0; k < rep.length; k++) {
            starts.push(this.starts[i]);
            ends.push(this.ends[i + w - 1]);
          }
        }
      }
      i += w;
    }
    if (out) this.set(out.join(''), starts, ends);
  }

  /**
   * Lower-cases each character on its own, as Hugging Face does; when none changes length (nearly always) the
   * alignments stay as they are. toLowerCase of a whole text differs only in writing a word-final Σ as ς.
   */
  lowercase(): void {
    const lower = this.text.toLowerCase();
    if (lower === this.text) return;
    if (lower.length === this.text.length && !this.text.includes('Σ')) this.text = lower;
    else this.mapCodePoints((ch) => ch.toLowerCase());
  }

  /**
   * Replaces every match of `pattern` (global) with `content`. Like Hugging Face, a match of n units replaced
   * by m ≤ n units drops the first n - m and aligns the rest one to one with the last m original units.
   */
  replace(pattern: RegExp, content: string): void {
    const out: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    let last = 0;
    const keep = (from: number, to: number) => {
      out.push(this.text.slice(from, to));
      for (let k = from; k < to; k++) {
        starts.push(this.starts[k]);
        ends.push(this.ends[k]);
      }
    };
    for (const m of this.text.matchAll(pattern)) {
      const at = m.index!;
      const len = m[0].length;
      if (len === 0) continue;
      keep(last, at);
      out.push(content);
      for (let k = 0; k < content.length; k++) {
        const src = at + Math.max(0, len - content.length) + Math.min(k, len - 1);
        starts.push(this.starts[src]);
        ends.push(this.ends[src]);
      }
      last = at + len;
    }
    keep(last, this.text.length);
    this.set(out.join(''), starts, ends);
  }

  /**
   * Rewrites the text segment by segment (`segments` gives [from, to) ranges covering it in order). A segment
   * that comes out no longer keeps its first characters' places, and characters folded into them disappear
   * (Hugging Face's alignment for compositions); a longer one aligns every output unit to the whole segment.
   */
  mapSegments(segments: Iterable<[number, number]>, f: (segment: string) => string): void {
    const out: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    for (const [from, to] of segments) {
      const seg = this.text.slice(from, to);
      const rep = f(seg);
      out.push(rep);
      if (rep.length <= seg.length) {
        for (let k = from; k < from + rep.length; k++) {
          starts.push(this.starts[k]);
          ends.push(this.ends[k]);
        }
      } else {
        for (let k = 0; k < rep.length; k++) {
          starts.push(this.starts[from]);
          ends.push(this.ends[to - 1]);
        }
      }
    }
    this.set(out.join(''), starts, ends);
  }

  /** Unicode normalization, cluster by cluster (a base and its combining marks) to keep alignments tight. */
  unicode(form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): void {
    // ASCII is unchanged by every normal form; testing for it is much cheaper than normalizing.
    if (/^[\x00-\x7f]*$/.test(this.text) || this.text.normalize(form) === this.text) return;
    // runs of ASCII that no combining mark follows are one segment each (no normal form changes them), so a mostly
    // ASCII text is a few segments instead of one per character
    const clusters = Array.from(this.text.matchAll(CLUSTERS), (m): [number, number] => [m.index!, m.index! + m[0].length]);
    this.mapSegments(clusters, (c) => c.normalize(form));
  }

  prepend(s: string): void {
    if (!this.text.length) return;
    this.text = s + this.text;
    this.starts = [...new Array<number>(s.length).fill(this.starts[0]), ...this.starts];
    this.ends = [...new Array<number>(s.length).fill(this.ends[0]), ...this.ends];
  }

  /** Text units from..to as a new NormalizedString sharing the original. */
  slice(from: number, to: number): NormalizedString {
    return new NormalizedString(this.original, this.text.slice(from, to), this.starts.slice(from, to), this.ends.slice(from, to));
  }

  /** The original range covered by text units from..to. */
  originalRange(from: number, to: number): [number, number] {
    if (from >= to) {
      const at = from < this.starts.length ? this.starts[from] : this.ends[this.ends.length - 1] ?? 0;
      return [at, at];
    }
    return [this.starts[from], this.ends[to - 1]];
  }

  private set(text: string, starts: number[], ends: number[]): void {
    this.text = text;
    this.starts = starts;
    this.ends = ends;
  }
}
