/**
 * `attnflow translate --src X --tgt Y` on the multilingual encoder-decoders of fixtures/architectures (every folder
 * whose expected.json names a src_lang): the CLI's tokens are transformers' greedy ids, the target language is the
 * forced first token, and an unknown code is refused with the tokenizer's languages.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer, languageTokenId, translationLanguages } from '@attnflow/tokenizer';
import { cli } from './helpers/cli.js';
import { fixture, readJson } from './helpers/fixtures.js';
import { untilEos } from './helpers/seq2seq.js';

const multilingual = readdirSync(fixture('architectures')).filter((d) => !d.includes('.') && readJson('architectures', d, 'expected.json').src_lang !== undefined);

/** One JSON line per input text. */
const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; generated: string; tokens: number[] });

describe.each(multilingual)('%s: attnflow translate --src --tgt', (name) => {
  const dir = fixture('architectures', name);
  const exp = readJson('architectures', name, 'expected.json');
  const gen = exp.generation;
  const maxNewTokens = String(exp.beam_settings.max_new_tokens);
  const tok = Tokenizer.fromDirectory(dir);

  it('greedy tokens equal transformers\' with the forced target language', () => {
    const r = cli(['translate', '--model', dir, '--src', exp.src_lang, '--tgt', exp.tgt_lang, '--beams', '1', '--max-new-tokens', maxNewTokens, ...exp.sources]);
    expect(r.code, r.stderr).toBe(0);
    const rows = lines(r.stdout);
    expect(rows.map((o) => o.text)).toEqual(exp.sources);
    rows.forEach((o, j) => {
      expect(untilEos([gen.decoder_start_token_id, ...o.tokens], gen.eos_token_id), exp.sources[j]).toEqual(untilEos(exp.greedy_ids[j], gen.eos_token_id));
      expect(o.generated).toBe(tok.decode(o.tokens, { skipSpecialTokens: true }));
    });
  });

  it('another --tgt is the first generated token', () => {
    const langs = translationLanguages(tok)!;
    const other = langs.codes.find((c) => c !== exp.tgt_lang && c !== exp.src_lang)!;
    const r = cli(['translate', '--model', dir, '--src', exp.src_lang, '--tgt', other, '--max-new-tokens', '2', exp.sources[0]]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)[0].tokens[0]).toBe(languageTokenId(tok, other));
  });

  it('an unknown code exits with usage code 2 and lists every language of the tokenizer', () => {
    const codes = translationLanguages(tok)!.codes;
    for (const [flag, field] of [['--tgt', 'target language'], ['--src', 'source language']]) {
      const r = cli(['translate', '--model', dir, flag, 'xx_YY', exp.sources[0]]);
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toContain(`${field} "xx_YY" is not one of this tokenizer's languages: ${codes.join(', ')}`);
    }
  });
});
