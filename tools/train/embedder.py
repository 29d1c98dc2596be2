"""Sentence embedder (pipelines/models/mini-bert): a BERT encoder, mean pooling, L2 normalisation. It starts as a
bag of words (word_vectors.bag_of_words) and is then trained contrastively (in-batch negatives, symmetric cross-entropy over cosine similarities x 20, as
sentence-transformers' MultipleNegativesRankingLoss) on pairs that mean the same thing, all from WordNet's
training synsets: a word or a question about it and its definition, a usage example and its definition, a usage
example and another of the same synset, two synonyms."""
import random
import sys

import torch
from transformers import BertConfig, BertModel

import common
import word_vectors

NAME = 'mini-bert'
MAX_LEN = 64


def pairs(synsets: list[common.Synset]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for s in synsets:
        if s.held_out:
            continue
        w = s.words[0]
        definition = common.sentence(s.definition)
        out.append((random.choice([w, f'what is {article_phrase(s)}?', f'what does {w} mean?']), definition))
        for e in s.examples[:2]:
            out.append((common.sentence(e), random.choice([definition, common.gloss_sentence(s)])))
        if len(s.examples) >= 2:
            out.append((common.sentence(s.examples[0]), common.sentence(s.examples[1])))
        if len(s.words) >= 2:
            out.append((s.words[0], s.words[1]))
    return out


def article_phrase(s: common.Synset) -> str:
    w = s.words[0]
    return f'{common.article(w)} {w}' if s.pos == 'n' and not w[:1].isupper() else w


def embed(model: BertModel, tok, texts: list[str]) -> torch.Tensor:
    enc = tok.encode_batch(texts)
    ids = torch.tensor([e.ids for e in enc])
    attention = torch.tensor([e.attention_mask for e in enc])
    hidden = model(input_ids=ids, attention_mask=attention).last_hidden_state
    m = attention.unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)


def main(minutes: float) -> None:
    common.setup()
    tok = common.bert_tokenizer()
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(pad_id=0, pad_token='[PAD]')
    data = pairs(common.wordnet())
    common.log(NAME, f'{len(data)} pairs')
    model = BertModel(BertConfig(vocab_size=tok.get_vocab_size(), **common.BERT_SIZE, pad_token_id=0), add_pooling_layer=False)
    word_vectors.bag_of_words(model)
    common.log(NAME, 'word vectors ready')
    batches = common.batches(data, 64, length=lambda p: len(p[0]) + len(p[1]))

    def loss_of(_step: int) -> torch.Tensor:
        batch = next(batches)
        scores = embed(model, tok, [p[0] for p in batch]) @ embed(model, tok, [p[1] for p in batch]).T * 20
        target = torch.arange(len(batch))
        return (torch.nn.functional.cross_entropy(scores, target) + torch.nn.functional.cross_entropy(scores.T, target)) / 2

    common.fit(NAME, model, minutes, loss_of, lr=2e-4)
    out = common.save_bert(model, NAME)
    (out / '1_Pooling').mkdir(exist_ok=True)
    common.write_json(out / '1_Pooling' / 'config.json', {
        'word_embedding_dimension': model.config.hidden_size, 'pooling_mode_cls_token': False,
        'pooling_mode_mean_tokens': True, 'pooling_mode_max_tokens': False})
    common.write_json(out / 'modules.json', [
        {'idx': 0, 'name': '0', 'path': '', 'type': 'sentence_transformers.models.Transformer'},
        {'idx': 1, 'name': '1', 'path': '1_Pooling', 'type': 'sentence_transformers.models.Pooling'},
        {'idx': 2, 'name': '2', 'path': '2_Normalize', 'type': 'sentence_transformers.models.Normalize'}])
    common.write_json(out / 'sentence_bert_config.json', {'max_seq_length': MAX_LEN, 'do_lower_case': False})


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 12)
