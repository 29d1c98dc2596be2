/**
 * Checkpoints in the file layouts the Hub ships (test/fixtures/hub, see its README): every case of every
 * expected.json, with every text, size and option read from the fixture files.
 */
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer, toCodePointOffsets } from '@attnflow/tokenizer';
import { fixture, readJson } from './helpers/fixtures.js';

const hub = (...parts: string[]) => fixture('hub', ...parts);
const expected = (name: string) => readJson('hub', name, 'expected.json');

describe('hub layouts: every listed file and nothing else', () => {
  for (const name of readdirSync(hub()).filter((n) => !n.includes('.'))) {
    it(name, () => {
      const exp = expected(name);
      const present = readdirSync(hub(name), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
      for (const f of exp.files as string[]) expect(present).toContain(f.split('/').pop());
    });
  }
});

describe('tokenizers from vocabulary files (no tokenizer.json)', () => {
  it('bert-vocab-only: vocab.txt + tokenizer_config.json casing', () => {
    const exp = expected('bert-vocab-only');
    const tok = Tokenizer.fromDirectory(hub('bert-vocab-only'));
    for (const o of exp.cases.encode.outputs) {
      const e = tok.encode(o.text);
      expect(e.ids, o.text).toEqual(o.input_ids);
      expect(e.tokens, o.text).toEqual(o.tokens);
      expect(toCodePointOffsets(o.text, e.offsets), o.text).toEqual(o.offsets);
      expect(e.typeIds).toEqual(o.token_type_ids);
      expect(tok.decode(e.ids), o.text).toEqual(o.decoded);
    }
  });

  it('bert-vocab-only: pairs, truncation and overflow windows', () => {
    const exp = expected('bert-vocab-only');
    const tok = Tokenizer.fromDirectory(hub('bert-vocab-only'));
    const p = exp.cases.pair;
    const e = tok.encode(p.a, p.b);
    expect(e.ids).toEqual(p.input_ids);
    expect(e.typeIds).toEqual(p.token_type_ids);
    const t = exp.cases.pair_truncation;
    for (const o of t.outputs) {
      const cut = tok.encode(t.a, t.b, { maxLength: o.max_length, truncation: o.truncation });
      expect(cut.ids, `${o.truncation} ${o.max_length}`).toEqual(o.input_ids);
      expect(cut.typeIds).toEqual(o.token_type_ids);
    }
    const ov = t.overflow;
    // The overflow case records its settings only in the call it made.
    const arg = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(ov.call)![1]);
    const windows = tok.encodeWindows(t.a, t.b, { maxLength: arg('max_length'), stride: arg('stride') });
    expect(windows.map((w) => w.ids)).toEqual(ov.input_ids);
    expect(windows.map((w) => w.typeIds)).toEqual(ov.token_type_ids);
  });

  it('marian-spm: source.spm pieces numbered by vocab.json, </s> appended', () => {
    const exp = expected('marian-spm');
    const tok = Tokenizer.fromDirectory(hub('marian-spm'));
    for (const o of exp.cases.tokenizer.outputs) {
      const e = tok.encode(o.text);
      expect(e.tokens, o.text).toEqual(o.tokens);
      expect(e.ids, o.text).toEqual(o.input_ids);
    }
    for (const o of exp.cases.generate.outputs) expect(tok.decode(o.generated_ids)).toEqual(o.decoded);
  });

  it('t5-prefix: spiece.model with sentinels', () => {
    const exp = expected('t5-prefix');
    const tok = Tokenizer.fromDirectory(hub('t5-prefix'));
    expect(tok.vocabSize).toBe(exp.cases.tokenizer.len_tokenizer);
    for (const o of exp.cases.tokenizer.outputs) {
      const e = tok.encode(o.text);
      // The recorded tokens are convert_ids_to_tokens(input_ids): an unknown piece shows as <unk>.
      expect(e.ids.map((id) => tok.idToToken(id)), o.text).toEqual(o.tokens);
      expect(e.ids, o.text).toEqual(o.input_ids);
    }
    for (const key of ['generate_summarization', 'generate_translation_en_to_de']) {
      for (const o of exp.cases[key].outputs) expect(tok.decode(o.generated_ids)).toEqual(o.decoded);
    }
  });

  it('gpt2-vocab-only: vocab.json + merges.txt, nothing added', () => {
    const exp = expected('gpt2-vocab-only');
    const tok = Tokenizer.fromDirectory(hub('gpt2-vocab-only'));
    for (const o of exp.cases.pipeline.outputs) {
      expect(tok.encode(o.prompt).ids).toEqual(o.prompt_ids);
      expect(o.prompt + tok.decode(o.generated_token_ids.slice(o.prompt_ids.length))).toEqual(o.generated_text);
    }
  });

  it('ner-bio: cased vocab.txt with special_tokens_map.json', () => {
    const exp = expected('ner-bio');
    const tok = Tokenizer.fromDirectory(hub('ner-bio'));
    for (const o of exp.cases.tokens.outputs) {
      const e = tok.encode(o.text);
      expect(e.ids, o.text).toEqual(o.input_ids);
      expect(e.tokens).toEqual(o.tokens);
      expect(toCodePointOffsets(o.text, e.offsets)).toEqual(o.offsets);
    }
  });

  it('a folder without tokenizer files: the error names the folder and what was looked for', () => {
    expect(() => Tokenizer.fromDirectory(hub('st-cls', '1_Pooling'))).toThrow(/1_Pooling: no tokenizer files found; looked for tokenizer\.json, vocab\.txt/);
  });
});
