import { TokenizerError } from './errors.js';
import type { NormalizedString } from './normalized.js';

/**
 * SentencePiece's precompiled normalization rules (`precompiled_charsmap`, as shipped in T5/Marian
 * tokenizer.json and in .model files): a darts-clone double-array trie over UTF-8 byte strings whose values
 * index NUL-terminated replacements. Matched grapheme by grapheme, exactly as Hugging Face's spm_precompiled.
 */
export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly replacements: Uint8Array;
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();

  constructor(blob: Uint8Array, file?: string) {
    const where = file ?? 'precompiled_charsmap';
    if (blob.length < 4) throw new TokenizerError(`${where}: precompiled_charsmap is ${blob.length} bytes, too short`);
    const trieSize = new DataView(blob.buffer, blob.byteOffset, blob.length).getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length) throw new TokenizerError(`${where}: precompiled_charsmap trie size ${trieSize} does not fit in ${blob.length} bytes`);
    // Copy into fresh buffers: `blob` may be a Node Buffer view into a larger pool (its .buffer is the pool).
    const trie = new Uint8Array(trieSize);
    trie.set(blob.subarray(4, 4 + trieSize));
    this.units = new Uint32Array(trie.buffer);
    this.replacements = Uint8Array.from(blob.subarray(4 + trieSize));
  }

  /** Values of every key in the trie that is a prefix of `bytes`, shortest first. */
  private commonPrefixSearch(bytes: Uint8Array): number[] {
    const u = this.units;
    const results: number[] = [];
    if (!u.length) return results;
    const offset = (unit: number) => (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    let pos = offset(u[0]);
    for (let i = 0; i < bytes.length; i++) {
      pos ^= bytes[i];
      const unit = u[pos];
      if (unit === undefined || (unit & ((1 << 31) | 0xff)) !== bytes[i]) break;
      pos ^= offset(unit);
      if ((unit >>> 8) & 1) results.push(u[pos] & 0x7fffffff);
    }
    return results;
  }

  /** The replacement for `chunk`, or undefined when no rule starts with it. */
  transform(chunk: string): string | undefined {
    const found = this.commonPrefixSearch(this.encoder.encode(chunk));
    if (!found.length) return undefined;
    const start = found[0];
    let end = start;
    while (end < this.replacements.length && this.replacements[end] !== 0) end++;
    return this.decoder.decode(this.replacements.subarray(start, end));
  }

  normalize(s: NormalizedString): void {
    const graphemes = Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(s.text), (g): [number, number] => [g.index, g.index + g.segment.length]);
    s.mapSegments(graphemes, (segment) => {
      // Like spm_precompiled: a short grapheme is looked up whole, else (or when absent) character by character.
      const whole = this.encoder.encode(segment).length < 6 ? this.transform(segment) : undefined;
      return whole ?? Array.from(segment, (c) => this.transform(c) ?? c).join('');
    });
  }
}

export function precompiledNormalizer(base64: unknown, file?: string): (s: NormalizedString) => void {
  if (typeof base64 !== 'string') throw new TokenizerError(`${file ?? 'tokenizer.json'}: Precompiled normalizer has no precompiled_charsmap string`);
  if (!base64) return () => {};
  const map = new PrecompiledCharsmap(Buffer.from(base64, 'base64'), file);
  return (s) => map.normalize(s);
}
