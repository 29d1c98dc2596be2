"""Clauses built from parts, for the NER and QA data: a subject, a verb and its object, with optional place,
time and company phrases, in the active or the passive voice, past or present tense. Each part carries its
entity tag (NER) and its role (QA asks about one role and answers with that part's text), so one generator
gives both tasks sentence shapes beyond a fixed list of templates.

The words come from WordNet: verbs whose sentence frames say "Somebody ----s something" (thing objects) or
"Somebody ----s somebody" (person objects), nouns under person, artifact or food, all common enough to have
been tagged in WordNet's sense-tagged corpus (cntlist.rev); irregular forms from a small table here, doubled
consonants from WordNet's verb.exc."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

import common
from entities import Names

# Irregular verbs of everyday English: base, past, past participle.
IRREGULAR = {v[0]: v for v in (t.split() for t in [
    'buy bought bought', 'bring brought brought', 'build built built', 'catch caught caught', 'choose chose chosen',
    'draw drew drawn', 'drive drove driven', 'eat ate eaten', 'find found found', 'fly flew flown', 'forget forgot forgotten',
    'get got got', 'give gave given', 'hold held held', 'keep kept kept', 'know knew known', 'leave left left', 'lend lent lent',
    'lose lost lost', 'make made made', 'meet met met', 'pay paid paid', 'read read read', 'ride rode ridden', 'ring rang rung',
    'see saw seen', 'sell sold sold', 'send sent sent', 'sing sang sung', 'steal stole stolen', 'take took taken',
    'teach taught taught', 'tell told told', 'throw threw thrown', 'wear wore worn', 'win won won', 'write wrote written',
    'break broke broken', 'hide hid hidden', 'feed fed fed', 'hit hit hit', 'cut cut cut', 'put put put', 'shut shut shut',
    'bake baked baked', 'begin began begun', 'fight fought fought', 'hear heard heard', 'hang hung hung', 'lead led led',
    'shoot shot shot', 'show showed shown', 'sweep swept swept', 'understand understood understood', 'wake woke woken',
])}
FRAME_THING, FRAME_PERSON = 8, 9  # wndb(5) verb frames: "Somebody ----s something", "Somebody ----s somebody"
# Places and times that are not names: what "where" and "when" questions also ask about.
SPATIAL = ['under', 'behind', 'next to', 'on top of', 'in front of', 'inside', 'near', 'beside', 'above', 'below', 'on',
           'in', 'at the back of', 'opposite', 'between the sofa and']
PLACE_NOUNS = ['kitchen', 'garden', 'office', 'station', 'library', 'park', 'market', 'school', 'hospital', 'airport',
               'beach', 'church', 'cafe', 'hotel', 'museum', 'stadium', 'bakery', 'harbour', 'village', 'theatre', 'garage',
               'supermarket', 'restaurant', 'cinema', 'bank', 'farm', 'factory', 'university', 'post office', 'car park']
TIMES_OF_DAY = ['in the morning', 'in the afternoon', 'in the evening', 'at night', 'at noon', 'at midnight']
NUMBER_WORDS = ['two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'fifteen',
                'twenty', 'thirty', 'fifty', 'a hundred', 'one']
RELATIVES = ['sister', 'brother', 'mother', 'father', 'aunt', 'uncle', 'cousin', 'friend', 'neighbour', 'colleague',
             'boss', 'son', 'daughter', 'wife', 'husband', 'grandmother', 'teacher', 'doctor', 'partner', 'roommate']
ADJECTIVES = ['old', 'new', 'red', 'small', 'big', 'blue', 'green', 'broken', 'expensive', 'cheap', 'wooden', 'heavy',
              'white', 'black', 'famous', 'beautiful', 'strange', 'little', 'large', 'empty', 'fresh', 'favourite']
DETERMINERS = ['the', 'a', 'his', 'her', 'their', 'my', 'our', 'this', 'that', 'your']


@dataclass
class Part:
    text: str
    tag: str = ''  # NER entity type, '' for O


def _inflect_regular(base: str, doubled: dict[str, str]) -> str:
    if base in doubled:
        return doubled[base]
    if base.endswith('e'):
        return base + 'd'
    if re.search(r'[^aeiou]y$', base):
        return base[:-1] + 'ied'
    return base + 'ed'


def third_person(base: str) -> str:
    if base in ('have', 'do', 'go'):
        return {'have': 'has', 'do': 'does', 'go': 'goes'}[base]
    if re.search(r'(s|x|z|ch|sh)$', base):
        return base + 'es'
    if re.search(r'[^aeiou]y$', base):
        return base[:-1] + 'ies'
    return base + 's'


def plural(noun: str) -> str:
    if re.search(r'(s|x|z|ch|sh)$', noun):
        return noun + 'es'
    if re.search(r'[^aeiou]y$', noun):
        return noun[:-1] + 'ies'
    return noun + 's'


@dataclass
class Verb:
    base: str
    past: str
    participle: str
    person_object: bool


def _counts() -> dict[tuple[str, str], int]:
    """How often each (lemma, part of speech) was tagged in WordNet's semantic concordance."""
    out: dict[tuple[str, str], int] = {}
    for line in (common.WORDNET / 'cntlist.rev').read_text(encoding='latin-1').splitlines():
        key, _, count = line.split()
        lemma, _, rest = key.partition('%')
        pos = 'nvarr'[int(rest[0]) - 1] if rest[0] in '1234' else 'a'
        out[(lemma, pos)] = out.get((lemma, pos), 0) + int(count)
    return out


def _verbs(counts: dict[tuple[str, str], int]) -> list[Verb]:
    """Single-word verbs with a thing or person object frame, tagged at least 10 times in the concordance."""
    exc: dict[str, list[str]] = {}
    for line in (common.WORDNET / 'verb.exc').read_text(encoding='latin-1').splitlines():
        form, base = line.split()[:2]
        exc.setdefault(base, []).append(form)
    doubled = {b: b + b[-1] + 'ed' for b, f in exc.items() if b + b[-1] + 'ed' in f}
    regular = {b for b, f in exc.items() if set(f) <= {b + b[-1] + 'ed', b + b[-1] + 'ing'}}
    frames: dict[str, set[int]] = {}
    for line in (common.WORDNET / 'data.verb').read_text(encoding='latin-1').splitlines():
        if line.startswith('  '):
            continue
        head = line.partition(' | ')[0].split()
        n_words = int(head[3], 16)
        words = [w.lower() for w in head[4:4 + 2 * n_words:2]]
        i = 4 + 2 * n_words
        i += 1 + 4 * int(head[i])
        found = {int(head[i + 2 + 3 * k]) for k in range(int(head[i]))} if i < len(head) else set()
        for w in words:
            frames.setdefault(w, set()).update(found)
    out = []
    for base, fr in frames.items():
        if not re.fullmatch(r'[a-z]{3,}', base) or counts.get((base, 'v'), 0) < 15 or not fr & {FRAME_THING, FRAME_PERSON}:
            continue
        if base in IRREGULAR:
            _, past, participle = IRREGULAR[base]
        elif base in exc and base not in regular:
            continue  # irregular and not in the table: no reliable forms
        else:
            past = participle = _inflect_regular(base, doubled)
        out.append(Verb(base, past, participle, FRAME_PERSON in fr and FRAME_THING not in fr))
    return out


def _nouns(synsets: list[common.Synset], counts: dict[tuple[str, str], int], roots: set[str]) -> list[str]:
    """Common single-word nouns below one of the root synsets (by their first word)."""
    by_id = {s.offset: s for s in synsets}
    root_ids = {s.offset for s in synsets if s.pos == 'n' and s.words[0] in roots}
    memo: dict[int, bool] = {}

    def below(o: int, depth: int = 0) -> bool:
        if o in root_ids:
            return True
        if o not in by_id or depth > 20:
            return False
        if o not in memo:
            memo[o] = any(below(h, depth + 1) for h in by_id[o].hypernyms)
        return memo[o]

    out = set()
    for s in synsets:
        if s.pos == 'n' and not s.held_out and below(s.offset):
            out.update(w for w in s.words if re.fullmatch(r'[a-z]{3,}', w) and counts.get((w, 'n'), 0) >= 5)
    return sorted(out)


class Clauses:
    """Random clauses as lists of Parts."""

    def __init__(self, synsets: list[common.Synset], names: Names):
        counts = _counts()
        self.names = names
        self.verbs = _verbs(counts)
        self.people_nouns = _nouns(synsets, counts, {'worker', 'professional', 'expert', 'leader', 'adult', 'relative'})
        self.things = _nouns(synsets, counts, {'artifact', 'food', 'animal', 'plant'})

    # Phrases -------------------------------------------------------------------------------------------------

    def person(self) -> list[Part]:
        """A person as a subject or object: a name, "the plumber", "my sister Julia", "two students"."""
        r = random.random()
        if r < 0.55:
            return [Part(self.names.person(), 'PER')]
        if r < 0.65:
            return [Part(random.choice(['Mr.', 'Mrs.', 'Ms.', 'Dr.', 'Professor', 'Aunt', 'Uncle', 'Captain']) + ' '),
                    Part(random.choice(self.names.last if random.random() < 0.8 else self.names.first), 'PER')]
        if r < 0.75:
            return [Part(f'{random.choice(["my", "his", "her", "our", "their"])} {random.choice(RELATIVES)} '),
                    Part(random.choice(self.names.first), 'PER')]
        if r < 0.8:
            return [Part(self.names.org(bare_names=False), 'ORG')]
        if r < 0.92:
            noun = random.choice(self.people_nouns)
            det = random.choice(['the', 'a', 'our', 'my', 'the local', 'the new', 'an old', 'the young'])
            return [Part(f'{common.article(noun) if det == "a" else det} {noun}')]
        return [Part(f'{random.choice(NUMBER_WORDS[:10])} {plural(random.choice(self.people_nouns))}')]

    def thing(self) -> list[Part]:
        r = random.random()
        noun = random.choice(self.things)
        if r < 0.45:
            det = random.choice(DETERMINERS)
            return [Part(f'{common.article(noun) if det == "a" else det} {noun}')]
        if r < 0.7:
            adj = random.choice(ADJECTIVES)
            det = random.choice(DETERMINERS)
            return [Part(f'{common.article(adj) if det == "a" else det} {adj} {noun}')]
        if r < 0.8:
            return [Part(f'{random.choice(NUMBER_WORDS)} {plural(noun)}')]
        if r < 0.85:
            misc = self.names.misc()
            return [Part(f'{random.choice(["the", common.article(misc), "my", "some", "their"])} '), Part(misc, 'MISC'), Part(f' {noun}')]
        if r < 0.9:
            a, b, c = random.sample(self.things, 3)
            return [Part(f'{plural(a)}, {plural(b)} and {plural(c)}' if random.random() < 0.5 else f'{a} and {b}')]
        return [Part(random.choice(self.names.products))]

    def place(self) -> tuple[str, list[Part]]:
        """(preposition, place); named places are answered without their preposition, others with it."""
        r = random.random()
        if r < 0.5:
            return random.choice(['in', 'in', 'near', 'at', 'outside']), [Part(self.names.place(), 'LOC')]
        if r < 0.62:
            return 'at', [Part(self.names.org(bare_names=False), 'ORG')]
        if r < 0.8:
            return '', [Part(f'{random.choice(["at", "in", "near", "behind", "outside"])} the {random.choice(PLACE_NOUNS)}')]
        return '', [Part(f'{random.choice(SPATIAL)} the {random.choice(self.things)}')]

    def time(self) -> tuple[str, list[Part]]:
        """(preposition, time); the answer is the time without its preposition."""
        n = self.names
        r = random.random()
        if r < 0.2:
            return 'on', [Part(random.choice(n.weekdays))]
        if r < 0.35:
            return 'in', [Part(random.choice([random.choice(n.months), n.year()]))]
        if r < 0.5:
            return 'on', [Part(f'{random.choice(n.months)} {random.randint(1, 28)}' + (f', {n.year()}' if random.random() < 0.5 else ''))]
        if r < 0.65:
            hour = random.choice([str(random.randint(1, 12)), random.choice(NUMBER_WORDS[:11])])
            return 'at', [Part(random.choice([f'{hour} o\'clock', hour, f'half past {hour}', f'{random.randint(1, 12)}:{random.choice(["15", "30", "45"])}']))]
        if r < 0.8:
            return '', [Part(random.choice(['yesterday', 'last week', 'last year', 'last month', 'this morning', 'tonight',
                                             f'last {random.choice(n.weekdays)}', f'{random.choice(NUMBER_WORDS[:9])} years ago',
                                             f'next {random.choice(n.weekdays)}', 'in the spring', 'in the summer']))]
        return '', [Part(random.choice(TIMES_OF_DAY))]

    # Clauses --------------------------------------------------------------------------------------------------

    def clause(self) -> tuple[list[Part], dict[str, list[Part]], dict]:
        """Parts of one sentence, the phrases a question may ask about (role → parts), and what a question
        needs (verb, tense, subject and object texts)."""
        verb = random.choice(self.verbs)
        subject = self.person()
        person_object = verb.person_object or random.random() < 0.15
        obj = self.person() if person_object else self.thing()
        adjuncts: list[tuple[str, str, list[Part]]] = []
        if random.random() < 0.55:
            prep, p = self.place()
            adjuncts.append(('place', prep, p))
        if random.random() < 0.55:
            prep, p = self.time()
            adjuncts.append(('time', prep, p))
        if random.random() < 0.15:
            adjuncts.append(('company', 'with', [self.person()[-1]]))
        random.shuffle(adjuncts)
        past = random.random() < 0.7
        passive = random.random() < 0.2
        plural_subject = bool(re.match(f'({"|".join(NUMBER_WORDS[:-1])}) ', subject[-1].text))
        if passive:
            many = bool(re.match(f'({"|".join(NUMBER_WORDS[:-1])}) ', text_of(obj))) or ' and ' in text_of(obj)
            be = ('were' if many else 'was') if past else ('are' if many else 'is')
            body = obj + [Part(f' {be} {verb.participle} by ')] + subject
        else:
            form = verb.past if past else (verb.base if plural_subject else third_person(verb.base))
            body = subject + [Part(f' {form} ')] + obj
        tail: list[Part] = []
        for _, prep, p in adjuncts:
            tail += [Part(' ' + (prep + ' ' if prep else ''))] + p
        if adjuncts and random.random() < 0.2:
            # A fronted adjunct: "In 1928, Alexander Fleming discovered penicillin."
            _, prep, p = adjuncts[-1]
            tail = tail[:-(1 + len(p))]
            body = [Part((prep + ' ' if prep else ''))] + p + [Part(', ')] + body
        parts = body + tail + [Part(random.choice(['.', '.', '.', '!']))]
        roles = {'subject': subject, 'object': obj} | {role: p for role, _, p in adjuncts}
        info = dict(verb=verb, past=past, plural=plural_subject,
                    subject=text_of(subject), object=text_of(obj), person_object=person_object)
        return capitalise(parts), roles, info

    def question(self, roles: dict[str, list[Part]], info: dict) -> tuple[str, str]:
        """A question about one role of a clause and its answer (the role's text)."""
        role = random.choice(list(roles))
        v: Verb = info['verb']
        aux = 'did' if info['past'] else ('do' if info['plural'] else 'does')
        subj, obj = info['subject'], info['object']
        answer = text_of(roles[role])
        if role == 'subject':
            q = f'Who {v.past if info["past"] else third_person(v.base)} {obj}?'
        elif role == 'object':
            m = re.match(f'({"|".join(NUMBER_WORDS[:-1])}) (\\w+)$', obj)
            if m and random.random() < 0.6:
                return f'How many {m.group(2)} {aux} {subj} {v.base}?', m.group(1)
            what = 'Who' if info['person_object'] else 'What'
            q = f'{what} {aux} {subj} {v.base}?'
        elif role == 'place':
            q = f'Where {aux} {subj} {v.base} {obj}?'
        elif role == 'time':
            q = f'When {aux} {subj} {v.base} {obj}?'
        else:
            q = f'Who {aux} {subj} {v.base} {obj} with?'
        return q, answer


def text_of(parts: list[Part]) -> str:
    return ''.join(p.text for p in parts)


def capitalise(parts: list[Part]) -> list[Part]:
    first = next(i for i, p in enumerate(parts) if p.text)
    p = parts[first]
    parts[first] = Part(p.text[0].upper() + p.text[1:], p.tag)
    return parts
