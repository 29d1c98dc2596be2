"""English NER (pipelines/models/mini-bert-ner, BIO tags over PER, LOC, ORG, MISC), fine-tuned from the masked
LM. Sentences come from the templates below and from grammar.Clauses (subject, verb, object, place and time
phrases), filled with entities.Names (Faker and WordNet proper nouns), plus WordNet usage examples without
capitals after the first word (all O). Every word piece of an entity is labelled: B- on its first piece, I- on
the rest."""
import random
import re
import sys

import torch
from transformers import BertForTokenClassification

import common
import grammar
from entities import Names

NAME = 'mini-bert-ner'
MAX_LEN = 64
LABELS = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC', 'B-ORG', 'I-ORG', 'B-MISC', 'I-MISC']

# {PER} {LOC} {ORG} {MISC} are entities; {DATE} {JOB} {PRODUCT} are filled but tagged O.
TEMPLATES = [
    '{PER} was born in {LOC} in {DATE}.', '{PER} works for {ORG} in {LOC}.', '{ORG} opened a new office in {LOC}.',
    '{PER} and {PER} met in {LOC} last {DATE}.', 'Yesterday {PER} flew from {LOC} to {LOC}.', 'The {MISC} team beat {LOC} on {DATE}.',
    '{PER}, the {JOB} at {ORG}, said the results were good.', 'According to {ORG}, prices in {LOC} rose sharply.',
    '{PER} speaks {MISC} and lives near {LOC}.', 'Shares of {ORG} fell after {PER} resigned.', 'We visited {LOC} with {PER}.',
    'I had lunch with {PER} on {DATE}.', '{PER} joined {ORG} as a {JOB}.', 'The {MISC} government announced new rules.',
    '{ORG} bought {ORG} for a large sum.', 'My sister {PER} moved to {LOC}.', 'Ask {PER} about the trip to {LOC}.',
    'The {MISC} film won an award in {LOC}.', '{PER} said that {ORG} will hire more staff.', 'Flights to {LOC} were cancelled.',
    'She studied at {ORG} before moving to {LOC}.', 'He is a {MISC} writer who lives in {LOC}.', '{LOC} is close to {LOC}.',
    'The meeting between {PER} and {PER} took place at the {ORG} offices.', 'A spokesman for {ORG} declined to comment.',
    'In {DATE}, {PER} became the head of {ORG}.', '{PER} thanked the people of {LOC}.', 'Did you see {PER} at the {MISC} festival?',
    'The {PRODUCT} from {ORG} sells well in {LOC}.', '{PER} lost to {PER} in the final.', 'Send the report to {PER} by {DATE}.',
    'Heavy rain hit {LOC} on {DATE}.', 'The {ORG} museum in {LOC} reopened.', '{PER} is a {MISC} chef.', 'Call me, {PER}!',
    'Tourists from {LOC} love the {MISC} food.', '{ORG} reported record profits this year.', 'Dinner with {PER} and {PER} tonight.',
    'The road from {LOC} to {LOC} is closed.', '{PER} thinks {ORG} should leave {LOC}.', 'Prime Minister {PER} arrived in {LOC}.',
    'President {PER} of {LOC} met {PER}.', '{PER} won the {MISC} prize for {PRODUCT}.', 'Many {MISC} people live in {LOC}.',
    'Our flight to {LOC} leaves on {DATE}.', '{PER} told {PER} about {ORG}.', 'The river runs through {LOC}.',
    'Dr. {PER} works at the hospital in {LOC}.', 'Mrs. {PER} teaches {MISC} at {ORG}.', 'Professor {PER} spoke at {ORG}.',
    'Mr. {PER} sold his house in {LOC}.', 'My friend {PER} loves {MISC} music.', '{ORG} hired {PER} last month.',
    '{ORG} and {ORG} will merge next year.', 'Fans of {ORG} celebrated in {LOC}.', 'Have you ever been to {LOC}?',
    '{PER} drove from {LOC} to {LOC} with her dog.', 'The {MISC} embassy in {LOC} was closed.', 'I read about {PER} in the paper.',
]


def pieces_with_labels(tok, parts: list[tuple[str, str]]) -> tuple[list[int], list[int]]:
    """Word pieces of each (text, tag) part; tag '' is O."""
    ids, labels = [], []
    for text, tag in parts:
        enc = tok.encode(text, add_special_tokens=False)
        for k, i in enumerate(enc.ids):
            ids.append(i)
            labels.append(LABELS.index(f'{"B" if k == 0 else "I"}-{tag}') if tag else 0)
    return ids, labels


def clause_example(clauses: grammar.Clauses) -> list[tuple[str, str]]:
    """One or two clauses, joined by "and" or as two sentences."""
    parts = clauses.clause()[0]
    if random.random() < 0.25:
        second = clauses.clause()[0]
        if random.random() < 0.5:
            parts = parts[:-1] + [grammar.Part(random.choice([', and ', ' and ', ', but ', ' because ', ' before ', ' after ']))] + lower_start(second)
        else:
            parts = parts + [grammar.Part(' ')] + second
    return [(p.text, p.tag) for p in parts]


def lower_start(parts: list) -> list:
    """A clause continuing a sentence: its first word lower-cased unless it is a name."""
    i = next(k for k, p in enumerate(parts) if p.text)
    p = parts[i]
    if p.tag:
        return parts
    return parts[:i] + [grammar.Part(p.text[0].lower() + p.text[1:], p.tag)] + parts[i + 1:]


def example(names: Names) -> list[tuple[str, str]]:
    template = random.choice(TEMPLATES)
    fillers = {'PER': names.person, 'LOC': names.place, 'ORG': names.org, 'MISC': names.misc,
               'DATE': names.date, 'JOB': lambda: random.choice(names.jobs), 'PRODUCT': lambda: random.choice(names.products)}
    parts: list[tuple[str, str]] = []
    for chunk in re.split(r'(\{[A-Z]+\})', template):
        if chunk.startswith('{'):
            kind = chunk[1:-1]
            parts.append((fillers[kind](), kind if kind in ('PER', 'LOC', 'ORG', 'MISC') else ''))
        elif chunk:
            parts.append((chunk, ''))
    return parts


def plain_examples(synsets: list[common.Synset]) -> list[list[tuple[str, str]]]:
    out = []
    for s in synsets:
        for e in s.examples:
            if not s.held_out and not re.search(r'\s[A-Z]', e):
                out.append([(common.sentence(e), '')])
    return out


def main(minutes: float, start: str) -> None:
    """Fine-tunes the checkpoint at `start` (the masked LM, or this model to train it further) for `minutes` of CPU."""
    common.setup()
    tok = common.bert_tokenizer()
    synsets = common.wordnet()
    names = Names(synsets)
    plain = plain_examples(synsets)
    clauses = grammar.Clauses(synsets, names)
    cls, sep = tok.token_to_id('[CLS]'), tok.token_to_id('[SEP]')
    model = BertForTokenClassification.from_pretrained(
        start, dtype=torch.float32, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})

    def loss_of(_step: int) -> torch.Tensor:
        def sample() -> list[tuple[str, str]]:
            r = random.random()
            return example(names) if r < 0.45 else clause_example(clauses) if r < 0.87 else random.choice(plain)
        rows = [pieces_with_labels(tok, sample()) for _ in range(32)]
        ids = common.padded([[cls] + r[0][:MAX_LEN - 2] + [sep] for r in rows], 0)
        labels = common.padded([[-100] + r[1][:MAX_LEN - 2] + [-100] for r in rows], -100)
        return model(input_ids=ids, attention_mask=(ids != 0).long(), labels=labels).loss

    common.fit(NAME, model, minutes, loss_of, lr=1e-3)
    common.save_bert(model, NAME)


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10, sys.argv[2] if len(sys.argv) > 2 else str(common.MODELS / 'mini-bert-mlm'))
