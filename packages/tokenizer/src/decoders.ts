import { unsupported } from './errors.js';
import { CHAR_TO_BYTE } from './unicode.js';

/** Turns tokens back into text pieces (a chain, as Hugging Face's decoders). */
export type Decoder = (tokens: string[]) => string[];
type Json = Record<string, any>;

/** Hugging Face's clean_up_tokenization_spaces. */
export function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!').replaceAll(' ,', ',')
    .replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const utf8Encoder = new TextEncoder();

/**
 * Each token's characters back to their bytes — or, as tokenizers' ByteLevel decoder does, the token's own UTF-8
 * when any of its characters is not a byte's (already decoded text, as NER's word grouping passes: " São" stays
 * "São", where "ã" alone would be the byte 0xE3).
 */
function byteLevelDecode(tokens: string[]): string[] {
  const bytes: number[] = [];
  for (const t of tokens) {
    const own: number[] = [];
    for (const ch of t) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b === undefined) break;
      own.push(b);
    }
    bytes.push(...(own.length === [...t].length ? own : utf8Encoder.encode(t)));
  }
  return [utf8.decode(Uint8Array.from(bytes))];
}

export function buildDecoder(cfg: Json | null | undefined, file?: string): Decoder | undefined {
  if (!cfg) return undefined;
  switch (cfg.type) {
    case 'WordPiece': {
      const prefix = cfg.prefix ?? '##';
      return (tokens) => {
        const out = tokens.map((t, i) => (i > 0 && t.startsWith(prefix) ? t.slice(prefix.length) : i > 0 ? ` ${t}` : t));
        return (cfg.cleanup ?? true) ? out.map(cleanUpTokenization) : out;
      };
    }
    case 'ByteLevel':
      return byteLevelDecode;
    case 'Metaspace': {
      const rep: string = cfg.replacement ?? '▁';
      const scheme = cfg.prepend_scheme ?? (cfg.add_prefix_space === false ? 'never' : 'always');
      return (tokens) =>
        tokens.map((t, i) => {
          const s = t.replaceAll(rep, ' ');
          return i === 0 && scheme !== 'never' && s.startsWith(' ') ? s.slice(1) : s;
        });
    }
    case 'BPEDecoder': {
      const suffix = cfg.suffix ?? '</w>';
      return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '));
    }
    case 'Replace': {
      const from = cfg.pattern?.String;
      if (typeof from !== 'string') unsupported('Replace decoder pattern', cfg.pattern, file, ['{String}']);
      return (tokens) => tokens.map((t) => t.replaceAll(from, cfg.content));
    }
    case 'Strip':
      return (tokens) => tokens.map((t) => {
        let s = t;
        for (let k = 0; k < (cfg.start ?? 0) && s.startsWith(cfg.content); k++) s = s.slice(cfg.content.length);
        for (let k = 0; k < (cfg.stop ?? 0) && s.endsWith(cfg.content); k++) s = s.slice(0, -cfg.content.length);
        return s;
      });
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'ByteFallback':
      return (tokens) => {
        const out: string[] = [];
        let pending: number[] = [];
        // a run of byte tokens that is not valid UTF-8 as a whole becomes one U+FFFD per byte (tokenizers' rule)
        const flush = () => {
          if (!pending.length) return;
          try {
            out.push(strictUtf8.decode(Uint8Array.from(pending)));
          } catch {
            out.push('\ufffd'.repeat(pending.length));
          }
          pending = [];
        };
        for (const t of tokens) {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
          if (m) pending.push(parseInt(m[1], 16));
          else {
            flush();
            out.push(t);
          }
        }
        flush();
        return out;
      };
    case 'Sequence': {
      const parts = (cfg.decoders as Json[]).map((d) => buildDecoder(d, file)!);
      return (tokens) => parts.reduce((acc, d) => d(acc), tokens);
    }
    default:
      return unsupported('decoder', cfg.type, file, ['WordPiece', 'ByteLevel', 'Metaspace', 'BPEDecoder', 'Replace', 'Strip', 'Fuse', 'ByteFallback', 'Sequence']);
  }
}
