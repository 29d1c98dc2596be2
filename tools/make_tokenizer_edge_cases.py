"""References for tokenizer edge cases the trained fixtures miss, encoded by the `tokenizers` library in the
format of the other tokenizers/*.expected.json:

- wordpiece-chunks: texts where cutting at ASCII spaces, tabs and line breaks before normalizing (and caching each
  chunk's tokens) could matter — controls that join two words once removed, combining marks right after a space,
  a word-final Σ next to a character whose lower case is longer, the same word at many offsets, added tokens
  inside a chunk, chunks longer than the cache keeps. The tokenizer is test/fixtures/bert/tokenizer.json with
  Greek letters added to its vocabulary (written to tokenizers/wordpiece-chunks/), so that σ and ς differ in ids.
- bytelevel-bpe-stale: BPE words where a queued merge goes stale while the next symbol still reads the same
  (found by the Zipf corpus of bench/tokenizers.ts), with test/fixtures/gpt2/tokenizer.json.

    /work/pyenv/bin/python tools/make_tokenizer_edge_cases.py   # writes test/fixtures/tokenizers/…
"""
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
OUT = os.path.join(ROOT, 'tokenizers')
GREEK = 'αδιοσςφ'

CHUNK_TEXTS = [
    'the cat the cat  the\tcat\nthe\r\ncat the',
    'a\vb c\fd e\x00f g\x85h',
    'zero\u200bwidth joiner\u200dhere',
    'x \u0301y \u0301 e\u0301 \u0316\u0301z',
    'ΟΔΟΣ ΑΣ σοφός ΣΑΣ',
    'İstanbul ΑΣ İΣ',
    'café café,café (café) café.',
    '北京 北京北京 a北京b',
    '\u00a0nbsp\u00a0inside\u3000ideographic space',
    'word[MASK]word [SEP] word[CLS]',
    '\u212b \u1fef \u0384 \u2126',
    'don\'t stop-me (now)!',
    '🤖robot 🤖 robot🤖',
    ' '.join(['token'] * 40),
    'x' * 300 + ' short ' + 'ab' * 140,
    'a' * 101 + ' ' + 'a' * 100,
]
STALE_MERGE_TEXTS = [' Ñavevtc', 'Ñavevtc', 'avevtc avev', 'ÑaveÑave vev']


def bert_with_greek() -> str:
    with open(os.path.join(ROOT, 'bert', 'tokenizer.json'), encoding='utf-8') as f:
        spec = json.load(f)
    vocab = spec['model']['vocab']
    for piece in [c for c in GREEK] + ['##' + c for c in GREEK]:
        vocab.setdefault(piece, len(vocab))
    path = os.path.join(OUT, 'wordpiece-chunks', 'tokenizer.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(spec, f, ensure_ascii=False)
    return path


def write_cases(name: str, tokenizer: str, texts: list[str], pair: tuple[str, str]) -> None:
    tok = Tokenizer.from_file(tokenizer)
    cases = []
    for text in texts:
        e = tok.encode(text)
        cases.append({'text': text, 'ids': e.ids, 'tokens': e.tokens, 'offsets': [list(o) for o in e.offsets], 'decoded': tok.decode(e.ids)})
    p = tok.encode(*pair)
    out = {'tokenizer': os.path.relpath(tokenizer, OUT), 'vocab_size': tok.get_vocab_size(), 'cases': cases, 'pair': {'a': pair[0], 'b': pair[1], 'ids': p.ids, 'type_ids': p.type_ids}}
    with open(os.path.join(OUT, f'{name}.expected.json'), 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


def main() -> None:
    write_cases('wordpiece-chunks', bert_with_greek(), CHUNK_TEXTS, ('the cat café', 'café the\tcat'))
    write_cases('bytelevel-bpe-stale', os.path.join(ROOT, 'gpt2', 'tokenizer.json'), STALE_MERGE_TEXTS, (STALE_MERGE_TEXTS[0], STALE_MERGE_TEXTS[2]))


if __name__ == '__main__':
    main()
