"""Small GPT-2 (pipelines/models/mini-gpt2): next-token prediction on the WordNet training sentences (each
synset's definition sentence followed by its usage examples, as for the masked LM), byte-level BPE of 8,000."""
import math
import sys

import torch
from tokenizers import Tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

import common
from mlm import sequences

NAME = 'mini-gpt2'
MAX_LEN = 64


def encode(tok: Tokenizer, texts: list[str], eos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each text followed by <|endoftext|>, right-padded with it; labels -100 on the padding."""
    rows = [(tok.encode(t).ids + [eos])[:MAX_LEN] for t in texts]
    return common.padded(rows, eos), common.padded(rows, -100)


def main(minutes: float, start: str | None) -> None:
    """Trains from random weights, or further from the checkpoint at `start`, for `minutes` of CPU."""
    common.setup()
    tok = Tokenizer.from_file(str(common.CACHE / 'gpt2-tokenizer.json'))
    eos = tok.token_to_id('<|endoftext|>')
    synsets = common.wordnet()
    train, held = sequences(synsets, False), sequences(synsets, True)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=128, n_embd=128, n_layer=3, n_head=4,
                        bos_token_id=eos, eos_token_id=eos)
    model = GPT2LMHeadModel.from_pretrained(start, dtype=torch.float32) if start else GPT2LMHeadModel(config)
    batches = common.batches(train, 32)

    def loss_of(_step: int) -> torch.Tensor:
        ids, labels = encode(tok, next(batches), eos)
        return model(input_ids=ids, labels=labels).loss

    common.fit(NAME, model, minutes, loss_of, lr=1e-3)
    nll = count = 0.0
    with torch.no_grad():
        for i in range(0, min(len(held), 320), 32):
            ids, labels = encode(tok, held[i:i + 32], eos)
            n = int((labels[:, 1:] != -100).sum())
            nll += model(input_ids=ids, labels=labels).loss.item() * n
            count += n
    common.log(NAME, f'held-out perplexity {math.exp(nll / count):.1f}')
    out = common.MODELS / NAME
    out.mkdir(parents=True, exist_ok=True)
    (out / 'tokenizer.json').write_text((common.CACHE / 'gpt2-tokenizer.json').read_text())
    common.write_json(out / 'tokenizer_config.json', {
        'tokenizer_class': 'GPT2Tokenizer', 'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>',
        'unk_token': '<|endoftext|>', 'model_max_length': config.n_positions, 'add_prefix_space': False,
    })
    common.save_f16(model, out)


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20, sys.argv[2] if len(sys.argv) > 2 else None)
