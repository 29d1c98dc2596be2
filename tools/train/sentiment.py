"""Sentiment classifier (pipelines/models/mini-bert-sentiment, labels negative / positive), fine-tuned from the
masked LM. Examples:
- templates filled with AFINN-165 opinion words (valence >= 2 positive, <= -2 negative) split by WordNet part
  of speech, with intensifiers, negation ("not good" is negative, "not bad" positive) and contrast ("X, but Y"
  takes the label of Y);
- WordNet usage examples whose AFINN words all agree in sign and sum to |valence| >= 2, without negation
  words (distant labels on natural sentences).
"""
import math
import random
import re
from collections import Counter
import sys

import torch
from transformers import BertConfig, BertForSequenceClassification

import common
import word_vectors

NAME = 'mini-bert-sentiment'
LABELS = ['negative', 'positive']
PROFANE = re.compile(r'fuck|shit|damn|bitch|cock|dick|piss|bastard|cunt|\bass|wtf|crap|hell')
NEGATION = re.compile(r"\b(not|no|never|nothing|n't|nor|without|hardly)\b|n't\b")

THINGS = ['film', 'movie', 'book', 'meal', 'food', 'service', 'hotel', 'room', 'staff', 'trip', 'concert', 'game',
          'phone', 'product', 'show', 'restaurant', 'experience', 'day', 'party', 'class', 'teacher', 'app', 'song',
          'album', 'car', 'flight', 'waiter', 'coffee', 'pizza', 'weekend', 'holiday', 'lesson', 'story', 'ending',
          'price', 'shop', 'team', 'performance', 'course', 'camera', 'laptop', 'seat', 'view', 'visit', 'job',
          'neighbourhood', 'delivery', 'support', 'update', 'design', 'plot', 'actor', 'music', 'soup', 'bed']
INTENSIFIERS = ['', '', 'very ', 'really ', 'so ', 'extremely ', 'absolutely ', 'quite ', 'truly ', 'pretty ']
ADJ_TEMPLATES = [
    'The {t} was {i}{a}.', 'This {t} is {i}{a}.', 'What {an} {a} {t}!', '{A}!', 'It was {i}{a}.', 'I found the {t} {i}{a}.',
    'Such {an} {a} {t}.', 'Honestly, the {t} was {i}{a}.', 'My {t} was {i}{a} today.', 'Everything about the {t} felt {a}.',
    'The {t} is {i}{a} and the {t2} is {a2}.', 'Our {t} turned out {i}{a}.', '{A} {t}, {a2} {t2}.', 'The {t} seemed {a} to me.',
    'Overall {i}{a}.', 'We thought the {t} was {i}{a}.', 'Really {a} {t}.', 'That was {an} {a} {t}.',
]
NEG_ADJ_TEMPLATES = ['The {t} was not {i}{a}.', "It wasn't {a} at all.", 'The {t} is not {a}.', "I didn't find the {t} {a}.",
                     'Not {a}.', 'The {t} was never {a}.']
VERB_TEMPLATES = ['I {v} this {t}.', 'We {v} the {t}.', 'I {v} it.', 'They {v} the {t}.', 'I really {v} the {t}.',
                  'Everyone {v} the {t}.', 'Honestly I {v} every minute of the {t}.']
NEG_VERB_TEMPLATES = ["I don't {v} this {t}.", "We didn't {v} the {t}.", 'I do not {v} it.']
BUT_TEMPLATES = ['The {t} was {a}, but the {t2} was {a2}.', 'At first it seemed {a}, but in the end it was {a2}.',
                 '{A} {t}, but {an2} {a2} {t2}.', 'The {t} is {a} but the {t2} is {i}{a2}.']


def lexicon(synsets: list[common.Synset]) -> dict[str, dict[str, list[str]]]:
    """AFINN words by polarity and WordNet part of speech (adjective, verb), each repeated 1 + sqrt(its count in
    the WordNet text) times, so that common words ("good", "awful") are drawn more often than rare ones."""
    pos_of: dict[str, set[str]] = {}
    for s in synsets:
        for w in s.words:
            pos_of.setdefault(w, set()).add(s.pos)
    counts = Counter(re.findall(r"[a-z]+", ' '.join(common.corpus(synsets, held_out=False)).lower()))
    out = {p: {'a': [], 'v': []} for p in LABELS}
    for w, score in common.afinn().items():
        if ' ' in w or PROFANE.search(w) or abs(score) < 2:
            continue
        label = 'positive' if score > 0 else 'negative'
        for pos in pos_of.get(w, set()) & {'a', 'v'}:
            out[label][pos].extend([w] * (1 + int(math.sqrt(counts[w]))))
    return out


def fill(template: str, a: str, a2: str = '', **extra: str) -> str:
    t, t2 = random.sample(THINGS, 2)
    text = template.format(t=t, t2=t2, a=a, A=a.capitalize(), a2=a2, an=common.article(a), an2=common.article(a2),
                           i=random.choice(INTENSIFIERS), **extra)
    return text[0].upper() + text[1:]


def template_examples(lex: dict[str, dict[str, list[str]]], n: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    while len(out) < n:
        y = random.randrange(2)
        own, other = lex[LABELS[y]], lex[LABELS[1 - y]]
        kind = random.random()
        if kind < 0.45:
            out.append((fill(random.choice(ADJ_TEMPLATES), random.choice(own['a']), random.choice(own['a'])), y))
        elif kind < 0.6:
            out.append((fill(random.choice(NEG_ADJ_TEMPLATES), random.choice(other['a'])), y))
        elif kind < 0.78:
            out.append((fill(random.choice(VERB_TEMPLATES), '', v=random.choice(own['v'])), y))
        elif kind < 0.86:
            out.append((fill(random.choice(NEG_VERB_TEMPLATES), '', v=random.choice(other['v'])), y))
        else:
            out.append((fill(random.choice(BUT_TEMPLATES), random.choice(other['a']), random.choice(own['a'])), y))
    return out


def distant_examples(synsets: list[common.Synset]) -> list[tuple[str, int]]:
    valence = {w: v for w, v in common.afinn().items() if ' ' not in w}
    out: list[tuple[str, int]] = []
    for s in synsets:
        if s.held_out:
            continue
        for e in s.examples:
            if NEGATION.search(e.lower()):
                continue
            scores = [valence[w] for w in re.findall(r"[a-z']+", e.lower()) if w in valence]
            if scores and (all(v > 0 for v in scores) or all(v < 0 for v in scores)) and abs(sum(scores)) >= 2:
                out.append((common.sentence(e), int(sum(scores) > 0)))
    return out


def lexicon_classifier(model: BertForSequenceClassification, tok) -> None:
    """Starts the classifier as an AFINN lexicon classifier in BERT form: the encoder a bag of word vectors
    (word_vectors.bag_of_words) with each single-piece AFINN word's valence / 5 in dimension 0; layer 0's
    attention uniform (query and key zero) with identity values and output, so [CLS] receives the mean of the
    sentence's vectors; pooler identity; the classifier reads the sign of dimension 0. Fine-tuning then
    learns what a lexicon misses (negation, contrast, words outside AFINN)."""
    word_vectors.bag_of_words(model.bert)
    hidden = model.config.hidden_size
    eye = torch.eye(hidden)
    with torch.no_grad():
        words = model.bert.embeddings.word_embeddings.weight
        words.mul_(0.3)
        words[:, 0] = 0
        for w, score in common.afinn().items():
            for form in {w, w.capitalize()}:
                ids = tok.encode(form, add_special_tokens=False).ids
                if ' ' not in w and len(ids) == 1:
                    words[ids[0], 0] = score / 5
        attention = model.bert.encoder.layer[0].attention
        for lin in (attention.self.query, attention.self.key):
            lin.weight.zero_()
            lin.bias.zero_()
        attention.self.value.weight.copy_(eye)
        attention.self.value.bias.zero_()
        attention.output.dense.weight.copy_(eye)
        model.bert.pooler.dense.weight.copy_(eye)
        model.bert.pooler.dense.bias.zero_()
        model.classifier.weight.zero_()
        model.classifier.weight[1, 0], model.classifier.weight[0, 0] = 4.0, -4.0
        model.classifier.bias.zero_()


def main(minutes: float) -> None:
    common.setup()
    tok = common.bert_tokenizer()
    tok.enable_truncation(64)
    tok.enable_padding(pad_id=0, pad_token='[PAD]')
    synsets = common.wordnet()
    natural = distant_examples(synsets)
    data = template_examples(lexicon(synsets), 3 * len(natural)) + natural
    common.log(NAME, f'{len(natural)} distant-labelled WordNet examples, {len(data)} in all')
    model = BertForSequenceClassification(BertConfig(
        vocab_size=tok.get_vocab_size(), **common.BERT_SIZE, pad_token_id=0, num_labels=2,
        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)}))
    lexicon_classifier(model, tok)
    common.log(NAME, 'lexicon classifier ready')
    batches = common.batches(data, 32, length=lambda x: len(x[0]))

    def loss_of(_step: int) -> torch.Tensor:
        batch = next(batches)
        enc = tok.encode_batch([b[0] for b in batch])
        return model(input_ids=torch.tensor([e.ids for e in enc]), attention_mask=torch.tensor([e.attention_mask for e in enc]),
                     labels=torch.tensor([b[1] for b in batch])).loss

    common.fit(NAME, model, minutes, loss_of, lr=3e-4)
    common.save_bert(model, NAME)


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 8)
