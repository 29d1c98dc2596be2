import { eosIds, generateTokens, tokenStream, type DecodingSession, type GenerationConfig, type TokenEvent } from '@attnflow/decoder';
import { ChatTemplate, type ChatMessage, type Tokenizer } from '@attnflow/tokenizer';
import type { Observable } from 'rxjs';
import { ConfigError } from './config.js';
import { generationSettings, type CausalLM } from './generation.js';

/** An answer's length when neither the caller nor the model's generation config says: a few paragraphs. */
export const DEFAULT_CHAT_TOKENS = 512;

export interface ChatOptions {
  /** A system message opening the conversation (kept across /reset). */
  system?: string;
  /** Generation settings over the model's generation_config.json. */
  config?: GenerationConfig;
}

/**
 * The ids of a conversation as the model reads it: the template rendered with the generation prompt, then
 * tokenized without special tokens (the template writes its own), as apply_chat_template does.
 */
export function chatIds(tokenizer: Tokenizer, template: ChatTemplate, messages: readonly ChatMessage[]): number[] {
  return tokenizer.encode(template.render(messages, { addGenerationPrompt: true }), undefined, { addSpecialTokens: false }).ids;
}

/** The model directory's chat template, or an error saying that a base model has none. */
export function requireChatTemplate(dir: string): ChatTemplate {
  const template = ChatTemplate.fromDirectory(dir);
  if (!template) throw new ConfigError(`${dir}: no chat template (chat_template.jinja, or "chat_template" in tokenizer_config.json); chat needs an instruction-tuned model`);
  return template;
}

/**
 * A conversation with a causal LM that keeps its key/value cache between turns: each turn renders the whole
 * conversation, and when what the model has already read is a prefix of it, only the new tokens are fed (the
 * last answer's end, the user's turn, the assistant header); otherwise (a template that rewrites earlier turns)
 * the conversation is read again from the start.
 */
export class Chat {
  readonly messages: ChatMessage[] = [];
  private session?: DecodingSession;
  /** The ids the session has read. */
  private fed: number[] = [];
  /** Turns whose conversation was read from the start (the first, and any whose history no longer matched). */
  fullReads = 0;

  constructor(
    private readonly model: CausalLM,
    private readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
    private readonly options: ChatOptions = {},
  ) {
    this.reset();
  }

  /** Forgets the conversation (but not the system message) and frees the cache. */
  reset(): void {
    this.session?.dispose();
    this.session = undefined;
    this.fed = [];
    this.messages.length = 0;
    if (this.options.system !== undefined) this.messages.push({ role: 'system', content: this.options.system });
  }

  /** Positions the session holds (what the model has read of the conversation). */
  get cachedTokens(): number {
    return this.fed.length;
  }

  /** The user's turn; the answer as it is produced (an EOS ends it and is not shown). Unsubscribing stops it. */
  send(content: string): Observable<TokenEvent> {
    const decode = (ids: number[]) => this.tokenizer.decode(ids, { skipSpecialTokens: true });
    return tokenStream(async (onToken, signal) => {
      this.messages.push({ role: 'user', content });
      const answer = await this.answer(onToken, signal);
      this.messages.push({ role: 'assistant', content: decode(answer) });
    }, decode);
  }

  private async answer(onToken: (token: number) => void, signal: AbortSignal): Promise<number[]> {
    const settings = generationSettings(this.model.generationConfig, { ...this.options.config, numBeams: 1 });
    const ids = chatIds(this.tokenizer, this.template, this.messages);
    const room = this.model.recipe.maxPositions - ids.length;
    if (room < 1) throw new ConfigError(`the conversation (${ids.length} tokens) fills the model's ${this.model.recipe.maxPositions} positions; /reset to start again`);
    const maxNewTokens = Math.min(settings.maxNewTokens ?? DEFAULT_CHAT_TOKENS, room);
    const reuse = this.session !== undefined && this.fed.length < ids.length && this.fed.every((t, i) => ids[i] === t);
    let logits: Float32Array;
    if (reuse) {
      const added = ids.slice(this.fed.length);
      logits = await this.session!.step(Int32Array.from(added), added.length);
    } else {
      this.session?.dispose();
      this.session = undefined;
      this.fullReads++;
      const started = await this.model.start([ids], { maxNewTokens, padTokenId: settings.padTokenId });
      this.session = started.session;
      logits = started.logits;
    }
    const eos = eosIds(settings);
    const [generated] = await generateTokens(this.session!, logits, [ids], { ...settings, maxNewTokens }, {
      signal, onToken: (_row, token) => { if (!eos.has(token)) onToken(token); },
    });
    // the session has read every generated token but the last (decoding stops before feeding it)
    this.fed = [...ids, ...generated.slice(0, -1)];
    return generated.filter((t) => !eos.has(t));
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}
