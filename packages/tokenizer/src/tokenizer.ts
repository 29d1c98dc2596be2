import { readFileSync } from 'node:fs';
import { ChunkCache, type PieceToken, type Pieces } from './chunkCache.js';
import { buildDecoder, cleanUpTokenization, type Decoder } from './decoders.js';
import { loadTokenizer } from './hub.js';
import { emptyEncoding, type Encoding } from './encoding.js';
import { TokenizerError } from './errors.js';
import { buildModel, type Model } from './models/index.js';
import { NormalizedString } from './normalized.js';
import { buildNormalizer, type Normalizer } from './normalizers.js';
import { append, buildPostProcessor, type PostProcessor } from './postprocessors.js';
import { buildPreTokenizer, type PreTokenizer } from './pretokenizers.js';
import { isHighSurrogate } from './unicode.js';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
  normalized?: boolean;
}

export type Truncation = 'longest_first' | 'only_first' | 'only_second';

export interface EncodeOptions {
  /** Add [CLS]/[SEP], <s>/</s>… as the post-processor says. Default true. */
  addSpecialTokens?: boolean;
  /** Cut to at most this many tokens (special tokens included). */
  maxLength?: number;
  /** How to cut a pair; default longest_first. Without maxLength nothing is cut. */
  truncation?: Truncation;
}

export interface WindowOptions {
  maxLength: number;
  /** Tokens of the second text that consecutive windows share. */
  stride: number;
}

export interface BatchOptions extends EncodeOptions {
  /** 'longest' pads to the longest in the batch (default); 'max_length' to maxLength; false leaves ragged rows. */
  padding?: 'longest' | 'max_length' | false;
  paddingSide?: 'right' | 'left';
  padToMultipleOf?: number;
}

/** A padded batch, row-major [batch, length], ready to become int32 tensors. */
export interface BatchEncoding {
  batch: number;
  length: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  encodings: Encoding[];
}

/** The roles special tokens play, as tokenizer_config.json and special_tokens_map.json name them. */
export const SPECIAL_ROLES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;
export type SpecialRole = (typeof SPECIAL_ROLES)[number];

export interface TokenizerConfig {
  padToken?: string;
  /** model_max_length: the longest input the model was trained on (truncation stops there). */
  maxLength?: number;
  paddingSide?: 'right' | 'left';
  /** tokenizer_config.json's clean_up_tokenization_spaces, applied by decode to the whole text. */
  cleanUpTokenizationSpaces?: boolean;
  /** The special tokens by role (tokenizer_config.json, then special_tokens_map.json). */
  specialTokens?: Partial<Record<SpecialRole, string>>;
  /** The tokenizer class the files describe (BertTokenizer, MarianTokenizer, …), for messages and heuristics. */
  tokenizerClass?: string;
  [key: string]: unknown;
}

/** Texts longer than this many UTF-16 units are refused, as a bound on memory (override per tokenizer). */
export const DEFAULT_MAX_INPUT_CHARS = 64 * 1024 * 1024;

/**
 * A Hugging Face `tokenizer.json`: added tokens → normalizer → pre-tokenizer → model → post-processor, and a
 * decoder for the way back. Encodes exactly as the `tokenizers` library does (tested on its outputs).
 */
export class Tokenizer {
  readonly addedTokens: AddedToken[];
  private readonly addedPattern?: RegExp;
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly specialIds = new Set<number>();
  /** UTF-16 length of the longest added token: a text cut closer than this to its end may have cut one. */
  private readonly longestAdded: number;
  /** Set when the text may be cut at whitespace before normalizing (see ChunkCache). */
  private readonly chunks?: ChunkCache;
  maxInputChars = DEFAULT_MAX_INPUT_CHARS;

  constructor(
    readonly model: Model,
    readonly normalizer: Normalizer | undefined,
    readonly preTokenizer: PreTokenizer | undefined,
    readonly postProcessor: PostProcessor | undefined,
    readonly decoder: Decoder | undefined,
    addedTokens: AddedToken[],
    readonly config: TokenizerConfig = {},
  ) {
    this.addedTokens = addedTokens;
    this.longestAdded = addedTokens.reduce((m, t) => Math.max(m, t.content.length), 0);
    if ((!normalizer || normalizer.whitespaceLocal) && preTokenizer?.splitsOnWhitespace) this.chunks = new ChunkCache((chunk) => this.pieces(chunk, 0));
    for (const t of addedTokens) {
      this.addedByContent.set(t.content, t);
      model.vocab.add(t.content, t.id);
      if (t.special) this.specialIds.add(t.id);
    }
    if (addedTokens.length) {
      const alts = [...addedTokens]
        .sort((a, b) => b.content.length - a.content.length)
        .map((t) => {
          const body = t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          const word = t.single_word ? `(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])` : body;
          return `${t.lstrip ? '\\s*' : ''}${word}${t.rstrip ? '\\s*' : ''}`;
        });
      this.addedPattern = new RegExp(alts.join('|'), 'gu');
    }
  }

  static fromJSON(json: Record<string, any>, file?: string, config: TokenizerConfig = {}): Tokenizer {
    if (!json || typeof json !== 'object' || !json.model) throw new TokenizerError(`${file ?? 'tokenizer.json'}: no "model" section; is this a tokenizer.json?`);
    const model = buildModel(json.model, file);
    const added: unknown = json.added_tokens ?? [];
    if (!Array.isArray(added)) throw new TokenizerError(`${file ?? 'tokenizer.json'}: added_tokens must be a list`);
    added.forEach((t: Partial<AddedToken>, i) => {
      if (typeof t?.content !== 'string' || !Number.isSafeInteger(t.id) || t.id! < 0) throw new TokenizerError(`${file ?? 'tokenizer.json'}: added_tokens[${i}] needs a string "content" and a non-negative integer "id", got ${JSON.stringify(t)?.slice(0, 60)}`);
    });
    return new Tokenizer(
      model,
      buildNormalizer(json.normalizer, file),
      buildPreTokenizer(json.pre_tokenizer, file),
      buildPostProcessor(json.post_processor, model.vocab, file),
      buildDecoder(json.decoder, file),
      added as AddedToken[],
      config,
    );
  }

  static fromFile(file: string, config: TokenizerConfig = {}): Tokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new TokenizerError(`${file}: cannot read tokenizer: ${(e as Error).message}`);
    }
    return Tokenizer.fromJSON(json as Record<string, any>, file, config);
  }

  /** Any Hub tokenizer folder (see loadTokenizer): tokenizer.json, or the vocabulary files of its class. */
  static fromDirectory(dir: string): Tokenizer {
    return loadTokenizer(dir);
  }

  get vocabSize(): number {
    return this.model.vocab.size;
  }

  tokenToId(token: string): number | undefined {
    return this.model.vocab.id(token);
  }

  idToToken(id: number): string | undefined {
    return this.model.vocab.token(id);
  }

  /** The same tokenizer with other special tokens around its texts (a translation tokenizer's language). */
  withPostProcessor(postProcessor: PostProcessor | undefined): Tokenizer {
    const t = new Tokenizer(this.model, this.normalizer, this.preTokenizer, postProcessor, this.decoder, this.addedTokens, this.config);
    for (const id of this.specialIds) t.markSpecial(id);
    t.maxInputChars = this.maxInputChars;
    return t;
  }

  /** Makes `decode` skip this id (SentencePiece control pieces, which text never produces). */
  markSpecial(id: number): void {
    this.specialIds.add(id);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  get padTokenId(): number | undefined {
    return this.config.padToken !== undefined ? this.tokenToId(this.config.padToken) : undefined;
  }

  /** The id of the special token of a role (mask_token, cls_token, …), if the tokenizer has one. */
  specialTokenId(role: SpecialRole): number | undefined {
    const token = this.config.specialTokens?.[role];
    return token === undefined ? undefined : this.tokenToId(token);
  }

  /**
   * The first `limit` tokens of a text (all of them if it has fewer), before special tokens are added. A text far
   * longer than `limit` tokens can need is not tokenized whole (a 40 MB line would take gigabytes of alignment
   * data): a prefix is, growing until it holds `limit` tokens that cannot change with what follows it.
   */
  private encodeText(text: string, limit = Infinity): Encoding {
    if (typeof text !== 'string') throw new TokenizerError(`expected a string to tokenize, got ${text === null ? 'null' : typeof text}`);
    if (text.length > this.maxInputChars) throw new TokenizerError(`text of ${text.length} characters exceeds the limit of ${this.maxInputChars} (set tokenizer.maxInputChars to raise it)`);
    if (!text.isWellFormed()) {
      const at = [...text].findIndex((c) => !c.isWellFormed());
      throw new TokenizerError(`text has a lone UTF-16 surrogate (invalid Unicode) at character ${at}`);
    }
    // A token covers about 4 characters of ordinary text; the prefix doubles when that guess is short.
    for (let chars = Math.max(1024, 8 * limit); chars < text.length; chars *= 2) {
      // Never end between the two halves of a surrogate pair.
      const end = chars - (isHighSurrogate(text.charCodeAt(chars - 1)) ? 1 : 0);
      const { encoding, stable } = this.tokenize(text.slice(0, end));
      if (stable >= limit) return cut(encoding, limit);
    }
    const { encoding } = this.tokenize(text);
    return limit < encoding.ids.length ? cut(encoding, limit) : encoding;
  }

  /**
   * added tokens → normalizer → pre-tokenizer → model over one text. `stable` counts the leading tokens that
   * the same text with more after it would also begin with: those before the last pre-token (a word may go on)
   * and before where a longer added token could start.
   */
  private tokenize(text: string): { encoding: Encoding; stable: number } {
    const out = emptyEncoding();
    let lastItem = 0;
    let word = 0;
    const push = (id: number, token: string, start: number, end: number, special: number, wordId: number) => {
      out.wordIds.push(wordId);
      out.ids.push(id);
      out.tokens.push(token);
      out.offsets.push([start, end]);
      out.typeIds.push(0);
      out.specialTokensMask.push(special);
      out.attentionMask.push(1);
      out.sequenceIds.push(0);
    };
    const emit = (pieces: Pieces, at: number) => {
      if (pieces.words) lastItem = out.ids.length + pieces.lastWordStart;
      for (const t of pieces.tokens) push(t.id, t.value, at + t.start, at + t.end, 0, word + t.word);
      word += pieces.words;
    };
    const plain = (from: number, to: number) => {
      if (to <= from) return;
      if (this.chunks) this.chunks.forEach(text, from, to, emit);
      else emit(this.pieces(text.slice(from, to), from), 0);
    };
    let last = 0;
    if (this.addedPattern) {
      for (const m of text.matchAll(this.addedPattern)) {
        const content = m[0].trim() && this.addedByContent.has(m[0]) ? m[0] : m[0].trim();
        const token = this.addedByContent.get(content) ?? this.addedByContent.get(m[0]);
        if (!token) continue;
        plain(last, m.index!);
        // As the tokenizers library: the token is the matched text, lstrip/rstrip whitespace included (a
        // RobertaProcessing with trim_offsets then trims it from the offsets)
        lastItem = out.ids.length;
        push(token.id, m[0], m.index!, m.index! + m[0].length, token.special ? 1 : 0, word);
        word++;
        last = m.index! + m[0].length;
      }
    }
    plain(last, text.length);
    const safeEnd = text.length - this.longestAdded;
    let stable = lastItem;
    while (stable > 0 && out.offsets[stable - 1][1] > safeEnd) stable--;
    return { encoding: out, stable };
  }

  /** normalizer → pre-tokenizer → model over text without added tokens; `offset`: where it starts in the input. */
  private pieces(text: string, offset: number): Pieces {
    const normalized = NormalizedString.from(text, offset);
    this.normalizer?.(normalized);
    const tokens: PieceToken[] = [];
    let words = 0;
    let lastWordStart = 0;
    for (const piece of this.preTokenizer ? this.preTokenizer([normalized]) : [normalized]) {
      lastWordStart = tokens.length;
      for (const t of this.model.tokenize(piece.text)) {
        const [start, end] = piece.originalRange(t.start, t.end);
        tokens.push({ id: t.id, value: t.value, start, end, word: words });
      }
      words++;
    }
    return { tokens, words, lastWordStart };
  }

  /** Encodes a text, or a pair (question/context, premise/hypothesis). */
  encode(text: string, pair?: string, options: EncodeOptions = {}): Encoding {
    const add = options.addSpecialTokens ?? true;
    const budget = options.maxLength === undefined ? Infinity : options.maxLength - (add ? this.numSpecialTokens(pair !== undefined) : 0);
    if (budget < 0) throw new TokenizerError(`maxLength ${options.maxLength} leaves no room for the special tokens`);
    // Truncation only needs to know whether a text has more than `budget` tokens, so neither is read further.
    let a = this.encodeText(text, budget + 1);
    let b = pair === undefined ? undefined : this.encodeText(pair, budget + 1);
    if (options.maxLength !== undefined) [a, b] = truncate(a, b, budget, options.truncation ?? 'longest_first');
    if (this.postProcessor) return this.postProcessor(a, b, add);
    if (!b) return a;
    const out = emptyEncoding();
    append(out, a, 0, 0);
    append(out, b, 1, 1);
    return out;
  }

  /**
   * A pair whose second text is cut into overlapping windows (Hugging Face's `truncation='only_second'` with
   * `return_overflowing_tokens` and `stride`): each window repeats the first text; consecutive windows share
   * `stride` tokens of the second. Question answering over long contexts reads every window.
   */
  encodeWindows(text: string, pair: string, options: WindowOptions): Encoding[] {
    if (!Number.isSafeInteger(options.maxLength) || !Number.isSafeInteger(options.stride) || options.stride < 0) {
      throw new TokenizerError(`windows need a whole maxLength and stride ≥ 0, got ${options.maxLength} and ${options.stride}`);
    }
    const a = this.encodeText(text);
    const b = this.encodeText(pair);
    const room = options.maxLength - this.numSpecialTokens(true) - a.ids.length;
    if (room <= 0) throw new TokenizerError(`the first text (${a.ids.length} tokens) leaves no room for the second within maxLength ${options.maxLength}`);
    if (options.stride >= room) throw new TokenizerError(`stride ${options.stride} must be smaller than the ${room} tokens of the second text a window holds`);
    const out: Encoding[] = [];
    for (let start = 0; ; start += room - options.stride) {
      const end = Math.min(start + room, b.ids.length);
      const part = slice(b, start, end);
      out.push(this.postProcessor ? this.postProcessor(a, part, true) : part);
      if (end >= b.ids.length) return out;
    }
  }

  numSpecialTokens(isPair: boolean): number {
    if (!this.postProcessor) return 0;
    return this.postProcessor(emptyEncoding(), isPair ? emptyEncoding() : undefined, true).ids.length;
  }

  /** Encodes texts (or pairs) into one padded batch. */
  encodeBatch(inputs: readonly (string | readonly [string, string])[], options: BatchOptions = {}): BatchEncoding {
    const encodings = inputs.map((x) => (typeof x === 'string' ? this.encode(x, undefined, options) : this.encode(x[0], x[1], options)));
    return this.pad(encodings, options);
  }

  pad(encodings: Encoding[], options: BatchOptions = {}): BatchEncoding {
    const padding = options.padding ?? 'longest';
    const side = options.paddingSide ?? this.config.paddingSide ?? 'right';
    let length = padding === 'max_length' && options.maxLength !== undefined ? options.maxLength : encodings.reduce((m, e) => Math.max(m, e.ids.length), 0);
    if (options.padToMultipleOf) length = Math.ceil(length / options.padToMultipleOf) * options.padToMultipleOf;
    if (padding === false && encodings.some((e) => e.ids.length !== length)) {
      throw new TokenizerError('texts of different lengths cannot form a batch without padding');
    }
    const padId = this.padTokenId ?? 0;
    const batch = encodings.length;
    const inputIds = new Int32Array(batch * length).fill(padId);
    const attentionMask = new Int32Array(batch * length);
    const tokenTypeIds = new Int32Array(batch * length);
    encodings.forEach((e, r) => {
      const n = e.ids.length;
      const at = r * length + (side === 'left' ? length - n : 0);
      inputIds.set(e.ids, at);
      attentionMask.fill(1, at, at + n);
      tokenTypeIds.set(e.typeIds, at);
    });
    return { batch, length, inputIds, attentionMask, tokenTypeIds, encodings };
  }

  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const tokens: string[] = [];
    for (const id of Array.from(ids)) {
      if (skip && this.specialIds.has(id)) continue;
      const t = this.idToToken(id);
      if (t !== undefined) tokens.push(t);
    }
    const text = this.tokensToString(tokens);
    return this.config.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
  }

  /** Tokens joined into text as convert_tokens_to_string does (the decoder only, no clean-up of the whole). */
  tokensToString(tokens: string[]): string {
    return this.decoder ? this.decoder(tokens).join('') : tokens.join(' ');
  }
}

function slice(e: Encoding, from: number, to: number): Encoding {
  return {
    ids: e.ids.slice(from, to), tokens: e.tokens.slice(from, to), typeIds: e.typeIds.slice(from, to), offsets: e.offsets.slice(from, to),
    specialTokensMask: e.specialTokensMask.slice(from, to), attentionMask: e.attentionMask.slice(from, to), sequenceIds: e.sequenceIds.slice(from, to), wordIds: e.wordIds.slice(from, to),
  };
}

const cut = (e: Encoding, n: number): Encoding => slice(e, 0, n);

function truncate(a: Encoding, b: Encoding | undefined, budget: number, how: Truncation): [Encoding, Encoding | undefined] {
  const la = a.ids.length;
  const lb = b?.ids.length ?? 0;
  if (la + lb <= budget) return [a, b];
  if (!b) return [cut(a, budget), undefined];
  if (how === 'only_first') {
    if (budget - lb < 0) throw new TokenizerError(`the second text alone (more than ${budget} tokens) exceeds maxLength; cannot truncate only_first`);
    return [cut(a, budget - lb), b];
  }
  if (how === 'only_second') {
    if (budget - la < 0) throw new TokenizerError(`the first text alone (more than ${budget} tokens) exceeds maxLength; cannot truncate only_second`);
    return [a, cut(b, budget - la)];
  }
  // longest_first: take tokens off the longer text until both fit (ties: the first loses the extra one).
  let na = la;
  let nb = lb;
  while (na + nb > budget) {
    if (na >= nb) na--;
    else nb--;
  }
  return [cut(a, na), cut(b, nb)];
}
