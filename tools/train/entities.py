"""Named things for the NER and QA data: Faker's people, places and companies, and WordNet's proper nouns
(instances of a person, a location or an organisation, found by climbing their hypernyms; capitalised
adjectives "of or relating to" a place or people as MISC)."""
import random

import common

PERSON, LOCATION, ORGANIZATION = 'person', 'location', 'organization'
# Capitalised WordNet nouns below these are MISC (languages, holidays, wars, religions), as in CoNLL-2003.
MISC_ROOTS = ('natural language', 'holiday', 'war', 'religion')


def wordnet_names(synsets: list[common.Synset]) -> dict[str, list[str]]:
    by_id = {s.offset: s for s in synsets}
    roots = {}
    for s in synsets:
        if s.pos == 'n' and s.words[0] in (PERSON, LOCATION, ORGANIZATION) + MISC_ROOTS:
            roots.setdefault(s.words[0], set()).add(s.offset)

    def kind(start: list[int]) -> str | None:
        seen, todo = set(), list(start)
        while todo:
            o = todo.pop()
            if o in seen or o not in by_id:
                continue
            seen.add(o)
            for name, ids in roots.items():
                if o in ids:
                    return name
            todo.extend(by_id[o].hypernyms)
        return None

    out = {'PER': [], 'LOC': [], 'ORG': [], 'MISC': []}
    for s in synsets:
        # Organisations are mostly ordinary capitalised nouns in WordNet (NATO, Red Cross), not instances.
        if s.pos == 'n' and (s.instance_of or s.words[0][:1].isupper()):
            k = kind(s.instance_of or s.hypernyms)
            tag = ({PERSON: 'PER', LOCATION: 'LOC', ORGANIZATION: 'ORG'}.get(k or '') if s.instance_of
                   else 'ORG' if k == ORGANIZATION else 'MISC' if k in MISC_ROOTS else None)
            if tag:
                out[tag].extend(w for w in s.words if w[:1].isupper() and w.replace(' ', '').replace('-', '').replace('.', '').isalpha())
        if s.pos == 'a' and s.definition.startswith(('of or relating to', 'of or pertaining to', 'of or characteristic of')):
            out['MISC'].extend(w for w in s.words if w[:1].isupper() and w.isalpha())
    return {k: sorted(set(v)) for k, v in out.items()}


class Names:
    """Random entity strings by type."""

    def __init__(self, synsets: list[common.Synset]):
        f = common.entities()
        wn = wordnet_names(synsets)
        self.first, self.last = f['firstNames'], f['lastNames']
        self.wn_people = wn['PER']
        self.places = f['countries'] + f['states'] + f['cities'] + wn['LOC']
        self.orgs = f['companies'] + wn['ORG']
        self.misc_words = wn['MISC']
        self.cities = [p for p in wn['LOC'] if ' ' not in p] + f['cities']
        self.months = f['months']
        self.weekdays = f['weekdays']
        self.products = f['products']
        self.jobs = f['jobTitles']

    def person(self) -> str:
        r = random.random()
        if r < 0.5:
            return f'{random.choice(self.first)} {random.choice(self.last)}'
        if r < 0.65:
            return random.choice(self.first)
        if r < 0.8:
            return random.choice(self.last)
        return random.choice(self.wn_people)

    def place(self) -> str:
        return random.choice(self.places)

    def org(self, bare_names: bool = True) -> str:
        """An organisation; bare_names allows a bare surname ("Kellogg"), which only a context like "works
        for" tells from a person."""
        r = random.random()
        if r < 0.22:
            # One-word brands: a surname (only the context says it is a company) or an invented word.
            return random.choice(self.last) if r < 0.15 and bare_names else self.brand()
        if r < 0.3:
            return ''.join(random.choice('ABCDEFGHIJKLMNOPRSTUVW') for _ in range(random.randint(2, 4)))  # acronyms: BBC, NATO
        if r < 0.36:
            # Sports clubs: a city and a plural noun ("Chicago Bulls").
            return f'{random.choice(self.cities)} {random.choice(["Bulls", "Rangers", "Lions", "Giants", "Eagles", "Rovers", "Wanderers", "Tigers", "Kings", "United", "City", "Athletic"])}'
        if r < 0.7:
            return random.choice(self.orgs)
        if r < 0.8:
            return f'University of {random.choice(self.places)}'
        if r < 0.9:
            return f'{random.choice(self.last)} {random.choice(["Bank", "Group", "Motors", "Airlines", "Foods", "Press", "Systems", "Records"])}'
        return f'{random.choice(self.places)} {random.choice(["City Council", "United", "Hospital", "Museum", "Times"])}'

    def brand(self) -> str:
        """An invented one-word brand name (Qantas, Ikea-like) from two or three syllables."""
        syllables = ['ka', 'zo', 'li', 'ta', 'ne', 'vo', 'ri', 'sa', 'mi', 'tex', 'lo', 'qua', 'fy', 'bo', 'dex', 'ra', 'ny', 'gle', 'ix', 'ple', 'on', 'ex']
        word = ''.join(random.choice(syllables) for _ in range(random.randint(2, 3)))
        return word.capitalize() if random.random() < 0.85 else word.upper()

    def misc(self) -> str:
        return random.choice(self.misc_words)

    def year(self) -> str:
        return str(random.randint(1800, 2030))

    def date(self) -> str:
        r = random.random()
        if r < 0.4:
            return f'{random.choice(self.months)} {random.randint(1, 28)}, {self.year()}'
        if r < 0.7:
            return f'{random.choice(self.months)} {self.year()}'
        if r < 0.85:
            return random.choice(self.weekdays)
        return self.year()
