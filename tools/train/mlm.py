"""Masked LM (pipelines/models/mini-bert-mlm), the base every other BERT model is fine-tuned from.

Data: WordNet training synsets, one sequence per synset (its definition as a sentence followed by its usage
examples), 15% of the word pieces masked (80% [MASK], 10% a random piece, 10% unchanged) as in BERT.
"""
import random
import sys

import torch
from transformers import BertConfig, BertForMaskedLM

import common

NAME = 'mini-bert-mlm'
MAX_LEN = 64


def sequences(synsets: list[common.Synset], held_out: bool) -> list[str]:
    return [' '.join([common.gloss_sentence(s)] + [common.sentence(e) for e in s.examples])
            for s in synsets if s.held_out == held_out]


def mask(ids: torch.Tensor, special: torch.Tensor, vocab: int, mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: returns (inputs, labels) with labels -100 where nothing is predicted."""
    labels = ids.clone()
    chosen = (torch.rand(ids.shape) < 0.15) & ~special
    labels[~chosen] = -100
    inputs = ids.clone()
    r = torch.rand(ids.shape)
    inputs[chosen & (r < 0.8)] = mask_id
    swap = chosen & (r >= 0.8) & (r < 0.9)
    inputs[swap] = torch.randint(5, vocab, (int(swap.sum()),))
    return inputs, labels


def encode(tok, texts: list[str]) -> dict[str, torch.Tensor]:
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(pad_id=0, pad_token='[PAD]')
    enc = tok.encode_batch(texts)
    return {
        'input_ids': torch.tensor([e.ids for e in enc]),
        'attention_mask': torch.tensor([e.attention_mask for e in enc]),
        'special': torch.tensor([e.special_tokens_mask for e in enc]).bool(),
    }


def masked_loss(model: BertForMaskedLM, inputs: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor):
    """Cross-entropy over the masked positions only: the 8k-way output layer is run where it is needed."""
    hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
    where = labels != -100
    logits = model.cls(hidden[where])
    return torch.nn.functional.cross_entropy(logits, labels[where]), logits, labels[where]


def main(minutes: float, start: str | None) -> None:
    """Trains from random weights, or further from the checkpoint at `start`, for `minutes` of CPU."""
    common.setup()
    tok = common.bert_tokenizer()
    synsets = common.wordnet()
    train, held = sequences(synsets, False), sequences(synsets, True)
    config = BertConfig(vocab_size=tok.get_vocab_size(), **common.BERT_SIZE, pad_token_id=0)
    model = BertForMaskedLM.from_pretrained(start, dtype=torch.float32) if start else BertForMaskedLM(config)
    mask_id = tok.token_to_id('[MASK]')
    batches = common.batches(train, 64)

    def loss_of(_step: int) -> torch.Tensor:
        b = encode(tok, next(batches))
        inputs, labels = mask(b['input_ids'], b['special'], config.vocab_size, mask_id)
        return masked_loss(model, inputs, b['attention_mask'], labels)[0]

    common.fit(NAME, model, minutes, loss_of, lr=1e-3)
    torch.manual_seed(1)
    hits = total = 0
    with torch.no_grad():
        for i in range(0, min(len(held), 2000), 64):
            b = encode(tok, held[i:i + 64])
            inputs, labels = mask(b['input_ids'], b['special'], config.vocab_size, mask_id)
            _, logits, gold = masked_loss(model, inputs, b['attention_mask'], labels)
            hits += int((logits.argmax(-1) == gold).sum())
            total += len(gold)
    common.log(NAME, f'held-out masked top-1 {hits / total:.3f}')
    common.save_bert(model, NAME)


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20, sys.argv[2] if len(sys.argv) > 2 else None)
