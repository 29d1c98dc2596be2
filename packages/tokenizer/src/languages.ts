/**
 * Language codes of multilingual translation tokenizers, as transformers' tokenizer classes place them:
 *   MBartTokenizer                       source `X </s> src_lang`, target `X </s> tgt_lang`  (codes like en_XX)
 *   MBart50Tokenizer                     source `src_lang X </s>`, target `tgt_lang X </s>`  (codes like en_XX)
 *   M2M100Tokenizer                      source `__src__ X </s>`, target `__tgt__ X </s>`   (src_lang "en" → __en__)
 *   NllbTokenizer                        source `src_lang X </s>` (legacy_behaviour: `X </s> src_lang`) (eng_Latn)
 * The target language is also what generation forces as its first token (forced_bos_token_id).
 */
import { TokenizerError } from './errors.js';
import { buildPostProcessor } from './postprocessors.js';
import type { Tokenizer } from './tokenizer.js';

export interface TranslationLanguages {
  /** The language names the tokenizer takes as src_lang / tgt_lang (en_XX, en, eng_Latn…). */
  codes: string[];
  /** The language token of a name (M2M100: __en__; the others: the name itself). */
  token(code: string): string;
  /** Where the language token goes: after `X </s>` or before `X </s>`. */
  placement: 'after' | 'before';
  /** tokenizer_config.json's defaults. */
  srcLang?: string;
  tgtLang?: string;
}

const CODE_PATTERNS: Record<string, { pattern: RegExp; placement: 'after' | 'before' }> = {
  MBartTokenizer: { pattern: /^[a-z]{2}_[A-Z]{2}$/, placement: 'after' },
  MBart50Tokenizer: { pattern: /^[a-z]{2}_[A-Z]{2}$/, placement: 'before' },
  NllbTokenizer: { pattern: /^[a-z]{3}_[A-Z][a-z]{3}$/, placement: 'before' },
  M2M100Tokenizer: { pattern: /^__[a-z]{2,3}__$/, placement: 'before' },
};

/** The tokenizer's language codes, or undefined for a tokenizer that has none (tokenizer_class decides). */
export function translationLanguages(tokenizer: Tokenizer): TranslationLanguages | undefined {
  const cls = String(tokenizer.config.tokenizer_class ?? '').replace(/Fast$/, '');
  const kind = CODE_PATTERNS[cls];
  if (!kind) return undefined;
  const m2m = cls === 'M2M100Tokenizer';
  const tokens = tokenizer.addedTokens.map((t) => t.content).filter((t) => kind.pattern.test(t));
  const legacy = cls === 'NllbTokenizer' && tokenizer.config.legacy_behaviour === true;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    codes: m2m ? tokens.map((t) => t.slice(2, -2)) : tokens,
    token: (code) => (m2m ? `__${code}__` : code),
    placement: legacy ? 'after' : kind.placement,
    srcLang: str(tokenizer.config.src_lang),
    tgtLang: str(tokenizer.config.tgt_lang),
  };
}

/** The id of a language's token, or a TokenizerError listing the languages there are. */
export function languageTokenId(tokenizer: Tokenizer, code: string, field = 'language'): number {
  const langs = translationLanguages(tokenizer);
  if (!langs) throw new TokenizerError(`${field} "${code}": this tokenizer (${String(tokenizer.config.tokenizer_class ?? 'no tokenizer_class')}) has no language codes; --src/--tgt apply to mBART, mBART-50, M2M100 and NLLB`);
  const id = langs.codes.includes(code) ? tokenizer.tokenToId(langs.token(code)) : undefined;
  if (id === undefined) throw new TokenizerError(`${field} "${code}" is not one of this tokenizer's languages: ${langs.codes.join(', ')}`);
  return id;
}

/**
 * The tokenizer with its texts marked as `code` — the source template when `side` is source, the target template
 * (`text_target`) otherwise — as transformers rewrites its post-processor when src_lang / tgt_lang change.
 */
export function withLanguage(tokenizer: Tokenizer, code: string, side: 'source' | 'target' = 'source'): Tokenizer {
  const langs = translationLanguages(tokenizer)!;
  languageTokenId(tokenizer, code, side === 'source' ? 'source language' : 'target language');
  const lang = langs.token(code);
  const eos = String(tokenizer.config.eos_token ?? '</s>');
  const special = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  const text = (id: 'A' | 'B') => ({ Sequence: { id, type_id: 0 } });
  const around = (body: object[]) => (langs.placement === 'after' ? [...body, special(eos), special(lang)] : [special(lang), ...body, special(eos)]);
  const entry = (t: string) => ({ id: t, ids: [tokenizer.tokenToId(t)!], tokens: [t] });
  const post = buildPostProcessor(
    { type: 'TemplateProcessing', single: around([text('A')]), pair: around([text('A'), text('B')]), special_tokens: { [eos]: entry(eos), [lang]: entry(lang) } },
    tokenizer.model.vocab,
  );
  return tokenizer.withPostProcessor(post);
}
