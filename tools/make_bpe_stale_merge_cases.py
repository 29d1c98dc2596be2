"""References for BPE words where a queued merge goes stale and the next symbol still reads the same (found by
the Zipf corpus of bench/tokenizers.ts): encoded by the `tokenizers` library with test/fixtures/gpt2/tokenizer.json,
in the format of the other tokenizers/*.expected.json.

    /work/pyenv/bin/python tools/make_bpe_stale_merge_cases.py   # writes test/fixtures/tokenizers/bytelevel-bpe-stale.expected.json
"""
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
TOKENIZER = os.path.join(ROOT, 'gpt2', 'tokenizer.json')
OUT = os.path.join(ROOT, 'tokenizers', 'bytelevel-bpe-stale.expected.json')

TEXTS = [' Ñavevtc', 'Ñavevtc', 'avevtc avev', 'ÑaveÑave vev']


def main() -> None:
    tok = Tokenizer.from_file(TOKENIZER)
    cases = []
    for text in TEXTS:
        e = tok.encode(text)
        cases.append({'text': text, 'ids': e.ids, 'tokens': e.tokens, 'offsets': [list(o) for o in e.offsets], 'decoded': tok.decode(e.ids)})
    a, b = TEXTS[0], TEXTS[2]
    p = tok.encode(a, b)
    out = {'tokenizer': '../gpt2/tokenizer.json', 'vocab_size': tok.get_vocab_size(), 'cases': cases, 'pair': {'a': a, 'b': b, 'ids': p.ids, 'type_ids': p.type_ids}}
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


if __name__ == '__main__':
    main()
