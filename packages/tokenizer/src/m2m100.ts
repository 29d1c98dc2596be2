/**
 * M2M100's tokenizer (transformers' M2M100Tokenizer, pure Python, no tokenizer.json): the SentencePiece model
 * splits the text into pieces, vocab.json numbers them (missing → <unk>), then come the language tokens
 * `__xx__` (len(vocab.json) + their index in the fairseq list) and num_madeup_words `<madeupwordN>` tokens.
 * Source texts read `__src_lang__ X </s>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TokenizerError } from './errors.js';
import { withLanguage } from './languages.js';
import { Vocab, type Model } from './models/model.js';
import { sentencePieceTokenizer } from './sentencepiece.js';
import { Tokenizer, type AddedToken, type TokenizerConfig } from './tokenizer.js';

const FAIRSEQ_LANGUAGE_CODES: Record<string, string[]> = {
  m2m100: ('af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi hr ht hu hy id ig ilo is it ja jv ka kk km kn ko lb lg ln lo ' +
    'lt lv mg mk ml mn mr ms my ne nl no ns oc or pa pl ps pt ro ru sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu').split(' '),
  wmt21: 'en ha is ja cs ru zh de'.split(' '),
};

/** hub.ts's recipe for M2M100Tokenizer folders (no tokenizer.json). */
export function m2m100Tokenizer(dir: string, config: TokenizerConfig): Tokenizer {
  const vocabFile = join(dir, 'vocab.json');
  const spmFile = join(dir, String(config.vocab_file ?? 'sentencepiece.bpe.model'));
  const encoder = JSON.parse(readFileSync(vocabFile, 'utf8')) as Record<string, number>;
  const spm = sentencePieceTokenizer(existsSync(spmFile) ? spmFile : join(dir, 'sentencepiece.bpe.model'));
  const codes = FAIRSEQ_LANGUAGE_CODES[String(config.language_codes ?? 'm2m100')];
  if (!codes) throw new TokenizerError(`${join(dir, 'tokenizer_config.json')}: language_codes "${String(config.language_codes)}" is not one of ${Object.keys(FAIRSEQ_LANGUAGE_CODES).join(', ')}`);
  const size = Object.keys(encoder).length;
  const vocab = Vocab.fromMap(encoder, 'M2M100', vocabFile);
  const unk = encoder['<unk>'];
  const madeup = typeof config.num_madeup_words === 'number' ? config.num_madeup_words : 8;
  const extra = [...codes.map((c) => `__${c}__`), ...Array.from({ length: madeup }, (_, i) => `<madeupword${i}>`)];
  const added: AddedToken[] = extra.map((content, i) => ({ id: size + i, content, special: false }));
  const specials: AddedToken[] = ['<s>', '<pad>', '</s>', '<unk>'].map((content) => ({ id: encoder[content], content, special: true }));
  const model: Model = {
    kind: spm.model.kind,
    vocab,
    // a piece vocab.json lacks is <unk>, token and id
    tokenize: (piece) => spm.model.tokenize(piece).map((t) => (t.value in encoder ? { ...t, id: encoder[t.value] } : { ...t, id: unk, value: '<unk>' })),
  };
  const tok = new Tokenizer(model, spm.normalizer, spm.preTokenizer, undefined, spm.decoder, [...specials, ...added], config);
  const src = typeof config.src_lang === 'string' ? config.src_lang : 'en';
  return withLanguage(tok, src);
}
