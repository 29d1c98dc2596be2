"""PyTorch's outputs for two texts per embedded model, written to pipelines/models/eval/reference.json so that
test/embedded-models.test.ts can check that attnflow reproduces them (to 1e-4) through its public API.
Run after training: /work/pyenv/bin/python tools/train/reference.py"""
import json

import torch
from tokenizers import Tokenizer
from transformers import (AutoModel, BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification,
                          BertForTokenClassification, GPT2LMHeadModel)

import common

TEXTS = ['I loved this film, it was wonderful!', 'Maria Garcia flew from Madrid to London on Monday.']
MASKED = ['The children [MASK] in the garden until it got dark.', 'I usually drink a cup of [MASK] before work.']
QUESTIONS = [('Who hosted the games?', 'The 2022 Winter Games were hosted by Beijing.'),
             ('Where does Julia live?', 'My sister Julia lives in Toronto with her two cats.')]
PROMPTS = ['The children played', 'A dog is']


def load(cls, name: str):
    return cls.from_pretrained(common.MODELS / name, dtype=torch.float32).eval()


def tok(name: str) -> Tokenizer:
    return Tokenizer.from_file(str(common.MODELS / name / 'tokenizer.json'))


def tensors(enc) -> dict[str, torch.Tensor]:
    return {'input_ids': torch.tensor([enc.ids]), 'attention_mask': torch.tensor([enc.attention_mask]),
            'token_type_ids': torch.tensor([enc.type_ids])}


@torch.no_grad()
def main() -> None:
    out: dict[str, object] = {}
    t = tok('mini-bert')
    m = load(AutoModel, 'mini-bert')
    embeddings = []
    for text in TEXTS:
        enc = t.encode(text)
        hidden = m(**tensors(enc)).last_hidden_state[0]
        embeddings.append(torch.nn.functional.normalize(hidden.mean(0), dim=-1).tolist())
    out['embed'] = {'texts': TEXTS, 'embeddings': embeddings}

    m = load(BertForSequenceClassification, 'mini-bert-sentiment')
    probs = [m(**tensors(tok('mini-bert-sentiment').encode(text))).logits[0].softmax(-1).tolist() for text in TEXTS]
    out['classify'] = {'texts': TEXTS, 'labels': [m.config.id2label[i] for i in range(m.config.num_labels)], 'probabilities': probs}

    m = load(BertForTokenClassification, 'mini-bert-ner')
    t = tok('mini-bert-ner')
    rows = []
    for text in TEXTS:
        enc = t.encode(text)
        p = m(**tensors(enc)).logits[0].softmax(-1)
        rows.append({'tokens': enc.tokens, 'probabilities': p.tolist()})
    out['ner'] = {'texts': TEXTS, 'tokens': rows}

    m = load(BertForQuestionAnswering, 'mini-bert-qa')
    t = tok('mini-bert-qa')
    qa = []
    for q, c in QUESTIONS:
        r = m(**tensors(t.encode(q, c)))
        qa.append({'question': q, 'context': c, 'start_logits': r.start_logits[0].tolist(), 'end_logits': r.end_logits[0].tolist()})
    out['qa'] = qa

    m = load(BertForMaskedLM, 'mini-bert-mlm')
    t = tok('mini-bert-mlm')
    fills = []
    for text in MASKED:
        enc = t.encode(text)
        at = enc.tokens.index('[MASK]')
        p = m(**tensors(enc)).logits[0, at].softmax(-1)
        top = p.topk(5)
        fills.append({'text': text, 'tokens': [t.id_to_token(int(i)) for i in top.indices], 'scores': top.values.tolist()})
    out['fill-mask'] = fills

    m = load(GPT2LMHeadModel, 'mini-gpt2')
    t = tok('mini-gpt2')
    gens = []
    max_new = 12
    for prompt in PROMPTS:
        ids = torch.tensor([t.encode(prompt).ids])
        g = m.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False, pad_token_id=m.config.eos_token_id)
        gens.append({'prompt': prompt, 'max_new_tokens': max_new, 'tokens': g[0, ids.shape[1]:].tolist(), 'last_logits': m(ids).logits[0, -1, :8].tolist()})
    out['generate'] = gens
    common.write_json(common.MODELS / 'eval' / 'reference.json', out)


if __name__ == '__main__':
    common.setup()
    main()
