"""Writes the language-model evaluation sets under pipelines/models/eval/ from text no model trained on:
- mlm.jsonl: one word (a whole word piece, chosen with a fixed seed) masked in each hand-written everyday
  sentence (everyday.txt) and in 100 sentences of held-out WordNet synsets;
- generator.txt: the same sentences, unmasked, for perplexity.
The hand-written files (everyday.txt, sentiment.jsonl, ner.jsonl, qa.jsonl, retrieval.json) are not generated."""
import json
import random
import re

import common

EVAL = common.MODELS / 'eval'


def masked(tok, text: str, rng: random.Random, source: str) -> dict | None:
    words = [m for m in re.finditer(r"[A-Za-z]+", text) if len(tok.encode(m.group(), add_special_tokens=False).ids) == 1]
    if not words:
        return None
    m = rng.choice(words)
    return {'text': text[:m.start()] + '[MASK]' + text[m.end():], 'answer': m.group(), 'source': source}


if __name__ == '__main__':
    rng = random.Random(common.SEED)
    tok = common.bert_tokenizer()
    everyday = (EVAL / 'everyday.txt').read_text().splitlines()
    held = common.corpus(common.wordnet(), held_out=True)
    wordnet = rng.sample([s for s in held if len(s.split()) >= 6], 100)
    rows = [masked(tok, t, rng, 'everyday') for t in everyday] + [masked(tok, t, rng, 'wordnet') for t in wordnet]
    (EVAL / 'mlm.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows if r))
    (EVAL / 'generator.txt').write_text('\n'.join(everyday + wordnet) + '\n')
