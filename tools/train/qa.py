"""Extractive QA (pipelines/models/mini-bert-qa), fine-tuned from the masked LM. Each context joins one to three
facts about different people, places, organisations and things, shuffled: sentences from the fact templates
below or from grammar.Clauses (subject, verb, object, place, time and company phrases, active or passive); the
question asks about one of them and the answer is the slot's span in the context. Also "What is X?" over a
WordNet definition sentence (answer: the definition), so that not every answer is a name."""
import random
import re
import sys

import torch
from transformers import BertForQuestionAnswering

import common
from entities import Names
from grammar import Clauses, text_of

NAME = 'mini-bert-qa'
MAX_LEN = 128

# A fact, then (question, slot whose value is the answer). Slots: P person, L place, O organisation, D date,
# N number, T thing, J job, C colour.
FACTS: list[tuple[str, list[tuple[str, str]]]] = [
    ('{P} was born in {L} in {D}.', [('Where was {P} born?', 'L'), ('When was {P} born?', 'D'), ('Who was born in {L}?', 'P')]),
    ('{P} works for {O} as a {J}.', [('Who does {P} work for?', 'O'), ('What does {P} do?', 'J'), ('Where does {P} work?', 'O')]),
    ('{O} was founded by {P} in {D}.', [('Who founded {O}?', 'P'), ('When was {O} founded?', 'D')]),
    ('{P} moved to {L} last year.', [('Where did {P} move?', 'L'), ('Who moved to {L}?', 'P')]),
    ('The meeting with {P} is on {D}.', [('When is the meeting with {P}?', 'D'), ('Who is the meeting with?', 'P')]),
    ('{P} bought {N} {T}s at the market.', [('How many {T}s did {P} buy?', 'N'), ('What did {P} buy?', '{T}s'), ('Who bought {T}s?', 'P')]),
    ('{O} has {N} employees in {L}.', [('How many employees does {O} have?', 'N'), ('Where does {O} have employees?', 'L')]),
    ('The capital of {L} is {L2}.', [('What is the capital of {L}?', 'L2')]),
    ('{P} lives in {L} with {P2}.', [('Where does {P} live?', 'L'), ('Who lives with {P}?', 'P2')]),
    ('{P} drives a {C} car.', [('What colour is the car of {P}?', 'C'), ('What colour is {P}\'s car?', 'C'), ('Who drives a {C} car?', 'P')]),
    ('The {T} costs {N} dollars.', [('How much does the {T} cost?', '{N} dollars'), ('What costs {N} dollars?', 'The {T}')]),
    ('{P} wrote a book about {L}.', [('What did {P} write about?', 'L'), ('Who wrote a book about {L}?', 'P')]),
    ('{P} is {N} years old.', [('How old is {P}?', '{N} years old'), ('Who is {N} years old?', 'P')]),
    ('{O} opened a shop in {L} in {D}.', [('Where did {O} open a shop?', 'L'), ('When did {O} open a shop in {L}?', 'D')]),
    ('{P} married {P2} in {L}.', [('Who did {P} marry?', 'P2'), ('Where did {P} marry {P2}?', 'L')]),
    ('{P} is the {J} of {O}.', [('Who is the {J} of {O}?', 'P'), ('What is {P}\'s job?', 'J')]),
    ('The train to {L} leaves at {N} o\'clock.', [('When does the train to {L} leave?', '{N} o\'clock'), ('Where does the train go?', 'L')]),
    ('{P} won the race in {L} on {D}.', [('Who won the race in {L}?', 'P'), ('When did {P} win the race?', 'D'), ('Where was the race?', 'L')]),
    ('{P}\'s favourite colour is {C}.', [('What is {P}\'s favourite colour?', 'C')]),
    ('{P} has {N} children.', [('How many children does {P} have?', 'N')]),
    ('The {T} was made by {O}.', [('Who made the {T}?', 'O'), ('Which company made the {T}?', 'O')]),
    ('{P} called {P2} on {D}.', [('Who called {P2}?', 'P'), ('When did {P} call {P2}?', 'D'), ('Who did {P} call?', 'P2')]),
    ('{P} lost {P2}\'s {T} in {L}.', [('What did {P} lose?', '{P2}\'s {T}'), ('Where did {P} lose it?', 'L')]),
    ('The {T} is {R} the {T2}.', [('Where is the {T}?', '{R} the {T2}'), ('What is {R} the {T2}?', 'The {T}')]),
    ('{X} was written by {P}.', [('Who wrote {X}?', 'P')]),
    ('{P} wrote {X} in {D}.', [('What did {P} write?', 'X'), ('When did {P} write {X}?', 'D'), ('Who wrote {X}?', 'P')]),
]
PREPOSITIONS = ['under', 'behind', 'next to', 'on top of', 'in front of', 'inside', 'near', 'beside', 'above', 'below']
VERBS = ['built', 'painted', 'repaired', 'opened', 'designed', 'found', 'sold', 'cleaned']
SUBJECTS = ['history', 'maths', 'music', 'French', 'biology', 'art', 'physics', 'geography', 'English', 'chemistry']
NUMBER_WORDS = ['two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'twenty']
COLOURS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'grey', 'silver', 'orange', 'purple', 'brown', 'pink']
THINGS = ['apple', 'lamp', 'bicycle', 'ticket', 'chair', 'phone', 'jacket', 'painting', 'watch', 'book', 'camera', 'guitar',
          'table', 'kettle', 'umbrella', 'ring', 'computer', 'sofa', 'hat', 'bag', 'melon', 'bottle', 'shirt', 'radio']


def number() -> str:
    return random.choice([str(random.randint(2, 12)), str(random.randint(13, 999)), random.choice(NUMBER_WORDS)])


def fill_fact(names: Names, fact: tuple[str, list[tuple[str, str]]]) -> tuple[str, str, str]:
    """(fact sentence, question, answer), the answer occurring verbatim in the sentence."""
    statement, questions = fact
    v = {'P': names.person(), 'P2': names.person(), 'L': names.place(), 'L2': names.place(), 'O': names.org(),
         'D': names.date(), 'N': number(), 'N2': number(), 'R': random.choice(PREPOSITIONS), 'V': random.choice(VERBS),
         'S': random.choice(SUBJECTS), 'X': random.choice(names.products), 'H': random.choice(['his', 'her', 'their']),
         'J': random.choice(names.jobs), 'C': random.choice(COLOURS)}
    v['T'], v['T2'], v['T3'] = random.sample(THINGS + [p.split()[-1].lower() for p in random.sample(names.products, 3)], 3)
    question, slot = random.choice(questions)
    answer = v[slot] if slot in v else slot.format(**v)
    sentence = statement.format(**v)
    return sentence, question.format(**v), answer


def definition_fact(s: common.Synset) -> tuple[str, str, str]:
    w = s.words[0]
    return f'{common.article(w).capitalize()} {w} is {s.definition}.', f'What is {common.article(w)} {w}?', s.definition


def clause_fact(clauses: Clauses) -> tuple[str, str, str]:
    parts, roles, info = clauses.clause()
    question, answer = clauses.question(roles, info)
    return text_of(parts), question, answer


def example(names: Names, clauses: Clauses, nouns: list[common.Synset]) -> tuple[str, str, str, int]:
    """(question, context, answer, where the answer starts in the context)."""
    n = random.randint(1, 3)
    facts = [clause_fact(clauses) if random.random() < 0.5 else fill_fact(names, random.choice(FACTS)) for _ in range(n)]
    if random.random() < 0.15:
        facts.append(definition_fact(random.choice(nouns)))
    target = facts[random.randrange(len(facts))]
    random.shuffle(facts)
    context = ' '.join(f[0] for f in facts)
    # The answer inside its own sentence (the same words may occur earlier in another fact), capitalised there
    # when it begins the sentence.
    at = context.index(target[0]) + target[0].lower().find(target[2].lower())
    return target[1], context, context[at:at + len(target[2])], at


def encode(tok, q: str, ctx: str, answer: str, at: int) -> tuple[list[int], list[int], int, int] | None:
    """ids, token types, start and end token of the answer at character `at` of the context (None if cut off)."""
    enc = tok.encode(q, ctx)
    start = end = None
    for i, (seq, (a, b)) in enumerate(zip(enc.sequence_ids, enc.offsets)):
        if seq != 1:
            continue
        if start is None and a <= at < b:
            start = i
        if a < at + len(answer) <= b:
            end = i
    if start is None or end is None:
        return None
    return enc.ids, enc.type_ids, start, end


def main(minutes: float, start: str) -> None:
    """Fine-tunes the checkpoint at `start` (the masked LM, or this model to train it further) for `minutes` of CPU."""
    common.setup()
    tok = common.bert_tokenizer()
    tok.enable_truncation(MAX_LEN)
    synsets = common.wordnet()
    names = Names(synsets)
    nouns = [s for s in synsets if s.pos == 'n' and not s.held_out and len(s.definition.split()) < 12 and re.fullmatch(r'[a-z]+', s.words[0])]
    clauses = Clauses(synsets, names)
    model = BertForQuestionAnswering.from_pretrained(start, dtype=torch.float32)

    def loss_of(_step: int) -> torch.Tensor:
        rows = []
        while len(rows) < 32:
            r = encode(tok, *example(names, clauses, nouns))
            if r:
                rows.append(r)
        ids = common.padded([r[0] for r in rows], 0)
        types = common.padded([r[1] for r in rows], 0)
        attention = common.padded([[1] * len(r[0]) for r in rows], 0)
        return model(input_ids=ids, token_type_ids=types, attention_mask=attention,
                     start_positions=torch.tensor([r[2] for r in rows]), end_positions=torch.tensor([r[3] for r in rows])).loss

    common.fit(NAME, model, minutes, loss_of, lr=1e-3)
    common.save_bert(model, NAME)


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 12, sys.argv[2] if len(sys.argv) > 2 else str(common.MODELS / 'mini-bert-mlm'))
