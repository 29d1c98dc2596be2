"""References for tokenizing a text chunk by chunk (cut at ASCII spaces, tabs and line breaks before normalizing,
each chunk's tokens cached): texts where a chunk boundary could matter — controls that join two words once
removed, combining marks right after a space, a word-final Σ next to a character whose lower case is longer,
the same word at many offsets, added tokens inside a chunk, chunks longer than the cache keeps — encoded by the
`tokenizers` library, in the format of the other tokenizers/*.expected.json. The tokenizer is
test/fixtures/bert/tokenizer.json with Greek letters added to its vocabulary, so that σ and ς differ in the ids.

    /work/pyenv/bin/python tools/make_wordpiece_chunk_cases.py
    # writes test/fixtures/tokenizers/wordpiece-chunks/tokenizer.json and tokenizers/wordpiece-chunks.expected.json
"""
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
SOURCE = os.path.join(ROOT, 'bert', 'tokenizer.json')
TOKENIZER = os.path.join(ROOT, 'tokenizers', 'wordpiece-chunks', 'tokenizer.json')
OUT = os.path.join(ROOT, 'tokenizers', 'wordpiece-chunks.expected.json')
GREEK = 'αδιοσςφ'


def with_greek() -> None:
    with open(SOURCE, encoding='utf-8') as f:
        spec = json.load(f)
    vocab = spec['model']['vocab']
    for piece in [c for c in GREEK] + ['##' + c for c in GREEK]:
        vocab.setdefault(piece, len(vocab))
    os.makedirs(os.path.dirname(TOKENIZER), exist_ok=True)
    with open(TOKENIZER, 'w', encoding='utf-8') as f:
        json.dump(spec, f, ensure_ascii=False)

TEXTS = [
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


def main() -> None:
    with_greek()
    tok = Tokenizer.from_file(TOKENIZER)
    cases = []
    for text in TEXTS:
        e = tok.encode(text)
        cases.append({'text': text, 'ids': e.ids, 'tokens': e.tokens, 'offsets': [list(o) for o in e.offsets], 'decoded': tok.decode(e.ids)})
    a, b = 'the cat café', 'café the\tcat'
    p = tok.encode(a, b)
    out = {'tokenizer': 'wordpiece-chunks/tokenizer.json', 'vocab_size': tok.get_vocab_size(), 'cases': cases, 'pair': {'a': a, 'b': b, 'ids': p.ids, 'type_ids': p.type_ids}}
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


if __name__ == '__main__':
    main()
