"""Trains the two vocabularies: a cased WordPiece (BERT models) and a byte-level BPE (GPT-2), both 12,000 entries,
on the WordNet training sentences plus each Faker name and AFINN word once (so names and opinion words are
whole pieces). Writes them to the cache; the model scripts copy them into their checkpoints."""
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import common


def texts() -> list[str]:
    synsets = common.wordnet()
    extra = [' '.join(v) for v in common.entities().values()] + [' '.join(common.afinn())]
    return common.corpus(synsets, held_out=False) + extra


def wordpiece(lines: list[str]) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token='[UNK]', max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=common.BERT_VOCAB, special_tokens=special, continuing_subword_prefix='##'))
    cls, sep = tok.token_to_id('[CLS]'), tok.token_to_id('[SEP]')
    tok.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1', special_tokens=[('[CLS]', cls), ('[SEP]', sep)])
    tok.decoder = decoders.WordPiece(prefix='##')
    return tok


def byte_bpe(lines: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=common.BERT_VOCAB, special_tokens=['<|endoftext|>'], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    return tok


if __name__ == '__main__':
    common.setup()
    lines = texts()
    common.CACHE.mkdir(parents=True, exist_ok=True)
    wp = wordpiece(lines)
    wp.save(str(common.CACHE / 'bert-tokenizer.json'))
    byte_bpe(lines).save(str(common.CACHE / 'gpt2-tokenizer.json'))
    for s in ['The 2022 Winter Games were hosted by Beijing.', 'I loved this film, it was wonderful!']:
        print(wp.encode(s).tokens)
