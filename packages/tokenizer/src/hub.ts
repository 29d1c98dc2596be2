/**
 * A tokenizer from whatever files a Hugging Face Hub repo ships. `tokenizer.json` when there is one; otherwise
 * the vocabulary files of the tokenizer class, assembled the way transformers 5 builds that class from its
 * recipe (normaliser, pre-tokeniser, model, post-processor and decoder fixed by the class, flags from
 * tokenizer_config.json). Special tokens, padding side, model_max_length and the clean-up flag come from
 * tokenizer_config.json and special_tokens_map.json in every case.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDecoder, type Decoder } from './decoders.js';
import { TokenizerError } from './errors.js';
import { bpe } from './models/bpe.js';
import { Vocab, type Model } from './models/model.js';
import { unigram } from './models/unigram.js';
import { wordPiece } from './models/wordpiece.js';
import { buildNormalizer, type Normalizer } from './normalizers.js';
import { buildPostProcessor } from './postprocessors.js';
import { buildPreTokenizer } from './pretokenizers.js';
import { m2m100Tokenizer } from './m2m100.js';
import { isNormalPiece, readSentencePieceModel, sentencePieceParts } from './sentencepiece.js';
import { SPECIAL_ROLES, Tokenizer, type AddedToken, type SpecialRole, type TokenizerConfig } from './tokenizer.js';

type Json = Record<string, unknown>;

/** The file sets attnflow recognises in a model folder, in the order it looks for them. */
export const TOKENIZER_FILE_SETS = [
  'tokenizer.json',
  'vocab.txt (BERT WordPiece)',
  'vocab.json + merges.txt (GPT-2 / RoBERTa / BART byte-level BPE)',
  'source.spm + target.spm + vocab.json (Marian)',
  'spiece.model (T5)',
  'sentencepiece.bpe.model (XLM-RoBERTa)',
  'vocab.json + sentencepiece.bpe.model (M2M100)',
] as const;

/** How a tokenizer class is assembled when there is no tokenizer.json. */
type Recipe = 'wordpiece' | 'gpt2' | 'roberta' | 'marian' | 't5' | 'xlm-roberta' | 'm2m100';

/** Tokenizer classes (without "Fast") and model types by the recipe transformers 5 builds them with. */
const RECIPE_BY_CLASS: Record<string, Recipe> = {
  BertTokenizer: 'wordpiece', DistilBertTokenizer: 'wordpiece', ElectraTokenizer: 'wordpiece', MobileBertTokenizer: 'wordpiece',
  GPT2Tokenizer: 'gpt2', RobertaTokenizer: 'roberta', BartTokenizer: 'roberta', LongformerTokenizer: 'roberta',
  MarianTokenizer: 'marian', T5Tokenizer: 't5', XLMRobertaTokenizer: 'xlm-roberta', M2M100Tokenizer: 'm2m100',
};
const CLASS_BY_MODEL_TYPE: Record<string, string> = {
  bert: 'BertTokenizer', distilbert: 'DistilBertTokenizer', electra: 'ElectraTokenizer', gpt2: 'GPT2Tokenizer', roberta: 'RobertaTokenizer',
  bart: 'RobertaTokenizer', marian: 'MarianTokenizer', t5: 'T5Tokenizer', 'xlm-roberta': 'XLMRobertaTokenizer', m2m_100: 'M2M100Tokenizer',
};
/** The files each recipe reads (all must exist). */
const RECIPE_FILES: Record<Recipe, string[]> = {
  wordpiece: ['vocab.txt'], gpt2: ['vocab.json', 'merges.txt'], roberta: ['vocab.json', 'merges.txt'],
  marian: ['source.spm', 'vocab.json'], t5: ['spiece.model'], 'xlm-roberta': ['sentencepiece.bpe.model'], m2m100: ['vocab.json', 'sentencepiece.bpe.model'],
};

function readJson(file: string): Json {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TokenizerError(`${file}: expected a JSON object`);
  return json as Json;
}

const optionalJson = (file: string): Json | undefined => (existsSync(file) ? readJson(file) : undefined);

/** A special token as the configs write it: a string, or an AddedToken object with `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return undefined;
}

/** tokenizer_config.json and special_tokens_map.json (which wins for special tokens), resolved once. */
function readTokenizerConfig(dir: string): { raw: Json; config: TokenizerConfig } {
  const raw = optionalJson(join(dir, 'tokenizer_config.json')) ?? {};
  const map = optionalJson(join(dir, 'special_tokens_map.json')) ?? {};
  const specialTokens: Partial<Record<SpecialRole, string>> = {};
  for (const role of SPECIAL_ROLES) {
    const token = tokenContent(map[role]) ?? tokenContent(raw[role]);
    if (token !== undefined) specialTokens[role] = token;
  }
  const config: TokenizerConfig = { ...raw, specialTokens, padToken: specialTokens.pad_token };
  // transformers writes 1e30 (VERY_LARGE_INTEGER) when a tokenizer has no limit.
  if (typeof raw.model_max_length === 'number' && raw.model_max_length < 1e9) config.maxLength = raw.model_max_length;
  if (raw.padding_side === 'left' || raw.padding_side === 'right') config.paddingSide = raw.padding_side;
  if (typeof raw.clean_up_tokenization_spaces === 'boolean') config.cleanUpTokenizationSpaces = raw.clean_up_tokenization_spaces;
  if (typeof raw.tokenizer_class === 'string') config.tokenizerClass = raw.tokenizer_class.replace(/Fast$/, '');
  return { raw, config };
}

/** The recipe for a folder without tokenizer.json: its class (tokenizer_config, else config.json), else its files. */
function recipeOf(dir: string, config: TokenizerConfig): Recipe | undefined {
  const modelType = optionalJson(join(dir, 'config.json'))?.model_type;
  const cls = config.tokenizerClass ?? (typeof modelType === 'string' ? CLASS_BY_MODEL_TYPE[modelType] : undefined);
  const has = (r: Recipe) => RECIPE_FILES[r].every((f) => existsSync(join(dir, f)));
  const byClass = cls === undefined ? undefined : RECIPE_BY_CLASS[cls];
  if (byClass && has(byClass)) return byClass;
  return (['marian', 't5', 'xlm-roberta', 'wordpiece', 'gpt2'] as const).find(has);
}

/**
 * Loads the tokenizer of a model folder as Hugging Face does: tokenizer.json when present, else the files of
 * its tokenizer class. The error for a folder with none of them names the folder and every file set looked for.
 */
export function loadTokenizer(dir: string): Tokenizer {
  const { raw, config } = readTokenizerConfig(dir);
  const file = join(dir, 'tokenizer.json');
  let tok: Tokenizer;
  if (existsSync(file)) tok = Tokenizer.fromFile(file, config);
  else {
    const recipe = recipeOf(dir, config);
    if (!recipe) throw new TokenizerError(`${dir}: no tokenizer files found; looked for ${TOKENIZER_FILE_SETS.join(', ')}`);
    tok = RECIPES[recipe](dir, raw, config);
  }
  // Byte-level BPE tokenizers never clean up spaces in transformers 5, whatever the flag says.
  if (tok.model.kind === 'bpe') tok.config.cleanUpTokenizationSpaces = false;
  return tok;
}

/** Special tokens as added tokens, at the ids the vocabulary gives them (lstrip for <mask>, as RoBERTa/XLM-R). */
function specialAdded(vocab: Vocab, config: TokenizerConfig, file: string, lstrip: readonly SpecialRole[] = []): AddedToken[] {
  const seen = new Set<string>();
  const out: AddedToken[] = [];
  for (const role of SPECIAL_ROLES) {
    const content = config.specialTokens?.[role];
    if (content === undefined || seen.has(content)) continue;
    const id = vocab.id(content);
    if (id === undefined) throw new TokenizerError(`${file}: ${role} "${content}" is not in the vocabulary`);
    seen.add(content);
    out.push({ id, content, special: true, lstrip: lstrip.includes(role), normalized: false });
  }
  return out;
}

/** Fills roles the configs leave out with the class's own defaults. */
function withDefaults(config: TokenizerConfig, defaults: Partial<Record<SpecialRole, string>>): TokenizerConfig {
  const specialTokens = { ...defaults, ...config.specialTokens };
  return { ...config, specialTokens, padToken: specialTokens.pad_token };
}

const S = (id: string, typeId = 0) => ({ SpecialToken: { id, type_id: typeId } });
const Q = (id: 'A' | 'B', typeId = 0) => ({ Sequence: { id, type_id: typeId } });
const specialsOf = (vocab: Vocab, tokens: string[]) => Object.fromEntries(tokens.map((t) => [t, { id: t, ids: [vocab.id(t)!], tokens: [t] }]));

/** A class recipe's parts: pre-tokenizer and post-processor as tokenizer.json would write them. */
interface Parts {
  model: Model;
  normalizer?: Normalizer;
  pre?: Json;
  post?: Json;
  decoder?: Decoder;
  added: AddedToken[];
  config: TokenizerConfig;
  file: string;
}

function make({ model, normalizer, pre, post, decoder, added, config, file }: Parts): Tokenizer {
  return new Tokenizer(model, normalizer, buildPreTokenizer(pre, file), buildPostProcessor(post, model.vocab, file), decoder, added, config);
}

type RecipeFn = (dir: string, raw: Json, config: TokenizerConfig) => Tokenizer;

/** BertTokenizer from vocab.txt: BertNormalizer with the casing flags, BERT pre-tokenizer, WordPiece. */
const wordPieceRecipe: RecipeFn = (dir, raw, base) => {
  const file = join(dir, 'vocab.txt');
  const vocab: Record<string, number> = {};
  // One token a line; only the line break is removed (a token may be a space-like character).
  readFileSync(file, 'utf8').split('\n').forEach((line, i, all) => {
    if (i === all.length - 1 && line === '') return;
    const t = line.replace(/\r$/, '');
    if (!(t in vocab)) vocab[t] = i;
  });
  const config = withDefaults(base, { unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]' });
  const sp = config.specialTokens!;
  const lowercase = raw.do_lower_case ?? true;
  const model = wordPiece({ vocab, unk_token: sp.unk_token, continuing_subword_prefix: '##', max_input_chars_per_word: 100 });
  const normalizer = buildNormalizer({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: raw.tokenize_chinese_chars ?? true, strip_accents: raw.strip_accents ?? null, lowercase }, file);
  const [cls, sep] = [sp.cls_token!, sp.sep_token!];
  const post = { type: 'TemplateProcessing', single: [S(cls), Q('A'), S(sep)], pair: [S(cls), Q('A'), S(sep), Q('B', 1), S(sep, 1)], special_tokens: specialsOf(model.vocab, [cls, sep]) };
  const decoder = buildDecoder({ type: 'WordPiece', prefix: '##', cleanup: true }, file);
  return make({ model, normalizer, pre: { type: 'BertPreTokenizer' }, post, decoder, added: specialAdded(model.vocab, config, file), config, file });
};

/** GPT-2 (nothing added around the text) and RoBERTa/BART (<s> A </s></s> B </s>): byte-level BPE. */
function byteLevelRecipe(roberta: boolean): RecipeFn {
  return (dir, raw, base) => {
    const file = join(dir, 'vocab.json');
    const vocab = readJson(file) as Record<string, number>;
    const mergesFile = join(dir, 'merges.txt');
    const merges = readFileSync(mergesFile, 'utf8').split('\n').filter((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#version')));
    const config = withDefaults(base, roberta
      ? { bos_token: '<s>', eos_token: '</s>', sep_token: '</s>', cls_token: '<s>', unk_token: '<unk>', pad_token: '<pad>', mask_token: '<mask>' }
      : { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' });
    const addPrefixSpace = raw.add_prefix_space === true;
    const model = bpe({ type: 'BPE', vocab, merges, unk_token: null }, mergesFile);
    const sp = config.specialTokens!;
    const post = roberta
      ? { type: 'RobertaProcessing', sep: [sp.sep_token], cls: [sp.cls_token], trim_offsets: raw.trim_offsets ?? true, add_prefix_space: addPrefixSpace }
      : { type: 'ByteLevel', trim_offsets: true, add_prefix_space: addPrefixSpace };
    const pre = { type: 'ByteLevel', add_prefix_space: addPrefixSpace, use_regex: true };
    return make({ model, pre, post, decoder: buildDecoder({ type: 'ByteLevel' }, file), added: specialAdded(model.vocab, config, file, ['mask_token']), config, file });
  };
}

/**
 * MarianTokenizer: source.spm splits the text into pieces, vocab.json (the joint vocabulary) numbers them, a
 * piece it lacks is <unk>; `</s>` ends every input, no BOS. Decoding joins the pieces, "▁" becomes a space.
 */
const marianRecipe: RecipeFn = (dir, _raw, base) => {
  const spmFile = join(dir, 'source.spm');
  const spm = readSentencePieceModel(spmFile);
  const { model: pieces, normalizer } = sentencePieceParts(spm, spmFile);
  const vocabFile = join(dir, 'vocab.json');
  const vocab = Vocab.fromMap(readJson(vocabFile), 'Marian', vocabFile);
  const config = withDefaults(base, { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' });
  const sp = config.specialTokens!;
  const unk = vocab.id(sp.unk_token!);
  if (unk === undefined) throw new TokenizerError(`${vocabFile}: unk_token "${sp.unk_token}" is not in the vocabulary`);
  const model: Model = { kind: 'unigram', vocab, tokenize: (text) => pieces.tokenize(text).map((t) => ({ ...t, id: vocab.id(t.value) ?? unk })) };
  const eos = sp.eos_token!;
  const post = { type: 'TemplateProcessing', single: [Q('A'), S(eos)], pair: [Q('A'), Q('B'), S(eos)], special_tokens: specialsOf(vocab, [eos]) };
  // Language codes (">>de<<") of multilingual models are single tokens wherever they appear.
  const codes: AddedToken[] = [];
  for (let id = 0; id < vocab.size; id++) {
    const t = vocab.token(id);
    if (t !== undefined && /^>>.+<<$/.test(t)) codes.push({ id, content: t, special: false, normalized: false });
  }
  const pre = { type: 'Metaspace', replacement: '▁', prepend_scheme: spm.addDummyPrefix ? 'always' : 'never', split: false };
  const decoder: Decoder = (tokens) => [tokens.join('').replaceAll('▁', ' ').trim()];
  return make({ model, normalizer, pre, post, decoder, added: [...specialAdded(vocab, config, vocabFile), ...codes], config, file: vocabFile });
};

/** The sentencepiece pre-tokeniser transformers 5 gives T5 and XLM-R: split at whitespace, then "▁" words. */
const SPM_PRE = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }] };
const SPM_DECODER = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };

/** The precompiled normaliser of a SentencePiece model, when it has one. */
function charsmapNormalizer(charsmap: Uint8Array | undefined, file: string): Normalizer | undefined {
  return charsmap?.length ? buildNormalizer({ type: 'Precompiled', precompiled_charsmap: Buffer.from(charsmap).toString('base64') }, file) : undefined;
}

/**
 * T5Tokenizer from spiece.model: the spm pieces with their ids, `</s>` appended, and `extra_ids` sentinels
 * after the pieces in reverse order (<extra_id_0> is the last id), matched literally in text.
 */
const t5Recipe: RecipeFn = (dir, raw, base) => {
  const file = join(dir, 'spiece.model');
  const spm = readSentencePieceModel(file);
  const unmatchable = spm.pieces.flatMap((_, id) => (isNormalPiece(spm, id) ? [] : [id]));
  const extra = typeof raw.extra_ids === 'number' ? raw.extra_ids : 100;
  const sentinels = Array.from({ length: extra }, (_, n) => `<extra_id_${n}>`);
  const vocab: [string, number][] = [...spm.pieces.map((p): [string, number] => [p.piece, p.score]), ...sentinels.map((s): [string, number] => [s, 0]).reverse()];
  const model = unigram({ vocab, unk_id: spm.unkId, unmatchable }, file);
  const config = withDefaults(base, { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' });
  const eos = config.specialTokens!.eos_token!;
  const post = { type: 'TemplateProcessing', single: [Q('A'), S(eos)], pair: [Q('A'), S(eos), Q('B'), S(eos)], special_tokens: specialsOf(model.vocab, [eos]) };
  const extras = sentinels.map((content): AddedToken => ({ id: model.vocab.id(content)!, content, special: true, normalized: false }));
  const added = [...specialAdded(model.vocab, config, file), ...extras];
  return make({ model, normalizer: charsmapNormalizer(spm.charsmap, file), pre: SPM_PRE, post, decoder: buildDecoder(SPM_DECODER, file), added, config, file });
};

/**
 * XLMRobertaTokenizer from sentencepiece.bpe.model, numbered as fairseq: <s> <pad> </s> <unk> first, spm piece
 * i (from 3 on) at i + 1, <mask> last; `<s> A </s>` and `<s> A </s></s> B </s>`.
 */
const xlmRobertaRecipe: RecipeFn = (dir, _raw, base) => {
  const file = join(dir, 'sentencepiece.bpe.model');
  const spm = readSentencePieceModel(file);
  const vocab: [string, number][] = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...spm.pieces.slice(3).map((p): [string, number] => [p.piece, p.score]), ['<mask>', 0]];
  const model = unigram({ vocab, unk_id: 3, unmatchable: [0, 1, 2, 3, vocab.length - 1] }, file);
  const config = withDefaults(base, { bos_token: '<s>', eos_token: '</s>', sep_token: '</s>', cls_token: '<s>', unk_token: '<unk>', pad_token: '<pad>', mask_token: '<mask>' });
  const sp = config.specialTokens!;
  const [cls, sep] = [sp.cls_token!, sp.sep_token!];
  const post = { type: 'TemplateProcessing', single: [S(cls), Q('A'), S(sep)], pair: [S(cls), Q('A'), S(sep), S(sep), Q('B'), S(sep)], special_tokens: specialsOf(model.vocab, [cls, sep]) };
  const added = specialAdded(model.vocab, config, file, ['mask_token']);
  return make({ model, normalizer: charsmapNormalizer(spm.charsmap, file), pre: SPM_PRE, post, decoder: buildDecoder(SPM_DECODER, file), added, config, file });
};

const RECIPES: Record<Recipe, RecipeFn> = {
  wordpiece: wordPieceRecipe, gpt2: byteLevelRecipe(false), roberta: byteLevelRecipe(true), marian: marianRecipe, t5: t5Recipe, 'xlm-roberta': xlmRobertaRecipe,
  m2m100: (dir, _raw, config) => m2m100Tokenizer(dir, config),
};
