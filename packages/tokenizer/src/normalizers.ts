import { unsupported } from './errors.js';
import type { NormalizedString } from './normalized.js';
import { isBertControl, isChineseChar, isWhitespace } from './unicode.js';
import { precompiledNormalizer } from './precompiled.js';

export type Normalizer = ((s: NormalizedString) => void) & {
  /**
   * Normalizing a text gives the same as normalizing apart the chunks that ASCII spaces, tabs and line breaks
   * separate, and keeps those separators as whitespace: each character is rewritten on its own, or with the
   * combining marks after it (a space is never one). The tokenizer may then cut a text there first.
   */
  whitespaceLocal?: boolean;
};
const local = (f: (s: NormalizedString) => void): Normalizer => Object.assign(f, { whitespaceLocal: true });
type Json = Record<string, any>;

const stripAccents: Normalizer = local((s) => {
  s.unicode('NFD');
  // no nonspacing mark lies below U+0300
  if (/\p{Mn}/u.test(s.text)) s.mapCodePoints((ch, cp) => (cp >= 0x300 && /^\p{Mn}$/u.test(ch) ? '' : ch));
});

const lowercase: Normalizer = local((s) => s.lowercase());

/** BERT: drop controls, whitespace → ' ', spaces around CJK ideographs, optional accent stripping and lowercase. */
function bertNormalizer(cfg: Json): Normalizer {
  const cleanText = cfg.clean_text ?? true;
  const chinese = cfg.handle_chinese_chars ?? true;
  const lower = cfg.lowercase ?? true;
  const strip = cfg.strip_accents ?? lower; // null follows lowercase, as in the original BERT
  return local((s) => {
    // each pass first asks whether the text has anything it would change: most texts have neither controls nor CJK
    if (cleanText && /[^\x20-\x7e]/.test(s.text)) {
      s.mapCodePoints((ch, cp) => {
        // ASCII first: no regex for the common case
        // (Hugging Face drops controls before mapping whitespace, so \v and \f vanish while \t \n \r become spaces)
        if (cp < 128) return cp === 9 || cp === 10 || cp === 13 ? ' ' : cp < 32 || cp === 127 ? '' : ch;
        return cp === 0xfffd || isBertControl(ch) ? '' : isWhitespace(ch) ? ' ' : ch;
      });
    }
    if (chinese && /[\u3400-\u9fff\uf900-\ufaff\ud840-\ud87e]/.test(s.text)) s.mapCodePoints((ch, cp) => (isChineseChar(cp) ? ` ${ch} ` : ch));
    if (strip) stripAccents(s);
    if (lower) lowercase(s);
  });
}

/** SentencePiece's "nmt" rules: drop C0 controls, map a few spaces and separators to ' '. */
const nmt: Normalizer = (s) =>
  s.mapCodePoints((ch, cp) => {
    if ((cp >= 0x1 && cp <= 0x8) || cp === 0xb || (cp >= 0xe && cp <= 0x1f) || cp === 0x7f || cp === 0x8f || cp === 0x9f) return '';
    if (cp === 0x9 || cp === 0xa || cp === 0xc || cp === 0xd || cp === 0x1680 || (cp >= 0x200b && cp <= 0x200f) ||
      cp === 0x2028 || cp === 0x2029 || cp === 0x2581 || cp === 0xfeff || cp === 0xfffd) return ' ';
    return ch;
  });

/**
 * Oniguruma's inline case-insensitive group `(?i:…)` (Llama 3's `(?i:'s|'t|'re|…)`) as plain JavaScript, which
 * gains regexp modifiers only in later engines than Node 20's: each ASCII letter inside becomes `[xX]`. Groups
 * with classes or nested groups inside are left as they are (the RegExp constructor then names the problem).
 */
function caseInsensitiveGroups(source: string): string {
  return source.replace(/\(\?i:([^()[\]\\]*)\)/g, (_, body: string) => `(?:${body.replace(/[a-zA-Z]/g, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`)})`);
}

export function patternOf(pattern: Json, file?: string): RegExp {
  if (typeof pattern?.String === 'string') return new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
  if (typeof pattern?.Regex === 'string') return new RegExp(caseInsensitiveGroups(pattern.Regex), 'gu');
  return unsupported('pattern', pattern, file, ['{String}', '{Regex}']);
}

const NORMALIZERS = ['BertNormalizer', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'StripAccents', 'Replace', 'Nmt', 'Prepend', 'Strip', 'Precompiled', 'Sequence'];

export function buildNormalizer(cfg: Json | null | undefined, file?: string): Normalizer | undefined {
  if (!cfg) return undefined;
  switch (cfg.type) {
    case 'BertNormalizer':
      return bertNormalizer(cfg);
    case 'NFD':
    case 'NFKD':
      // decomposing never joins characters, so it cannot reach across a space
      return local((s) => s.unicode(cfg.type));
    case 'NFC':
    case 'NFKC':
      return (s) => s.unicode(cfg.type);
    case 'Lowercase':
      return lowercase;
    case 'StripAccents':
      return stripAccents;
    case 'Nmt':
      return nmt;
    case 'Replace': {
      const re = patternOf(cfg.pattern, file);
      return (s) => s.replace(re, cfg.content);
    }
    case 'Prepend':
      return (s) => s.prepend(cfg.prepend);
    case 'Strip':
      return (s) => {
        if (cfg.strip_left ?? true) s.replace(/^\s+/gu, '');
        if (cfg.strip_right ?? true) s.replace(/\s+$/gu, '');
      };
    case 'Precompiled':
      return precompiledNormalizer(cfg.precompiled_charsmap, file);
    case 'Sequence': {
      const parts = (cfg.normalizers as Json[]).map((n) => buildNormalizer(n, file)!).filter(Boolean);
      const sequence = (s: NormalizedString) => parts.forEach((n) => n(s));
      return parts.every((n) => n.whitespaceLocal) ? local(sequence) : sequence;
    }
    default:
      return unsupported('normalizer', cfg.type, file, NORMALIZERS);
  }
}
