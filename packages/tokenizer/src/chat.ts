import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { TokenizerError } from './errors.js';

/** One turn of a conversation, as chat templates receive it. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatOptions {
  /** End with the assistant's header, so that generation writes its answer (apply_chat_template's flag). */
  addGenerationPrompt?: boolean;
}

/** The special-token variables a template may use (bos_token, eos_token, …), from tokenizer_config.json. */
const TOKEN_VARIABLES = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

const contentOf = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : undefined;

/**
 * A model's chat template: `chat_template.jinja` (transformers 5) or `chat_template` in tokenizer_config.json
 * (a string, or a list of named templates of which "default" is used), rendered as apply_chat_template does —
 * Jinja (whose globals include raise_exception and strftime_now) with the tokenizer's special tokens as
 * variables. The rendered text is
 * then tokenized without adding special tokens: a template writes its own BOS.
 */
export class ChatTemplate {
  private readonly template: Template;

  private constructor(readonly source: string, readonly file: string, private readonly variables: Record<string, string>) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new TokenizerError(`${file}: the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** The directory's template, or undefined when it has none (base models). */
  static fromDirectory(dir: string): ChatTemplate | undefined {
    const configFile = join(dir, 'tokenizer_config.json');
    const config: Record<string, unknown> = existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : {};
    const variables: Record<string, string> = {};
    for (const name of TOKEN_VARIABLES) {
      const content = contentOf(config[name]);
      if (content !== undefined) variables[name] = content;
    }
    const jinjaFile = join(dir, 'chat_template.jinja');
    if (existsSync(jinjaFile)) return new ChatTemplate(readFileSync(jinjaFile, 'utf8'), jinjaFile, variables);
    const field = config.chat_template;
    if (field === undefined || field === null) return undefined;
    if (typeof field === 'string') return new ChatTemplate(field, `${configFile} field "chat_template"`, variables);
    if (Array.isArray(field)) {
      const named = field.find((t): t is { name: string; template: string } => typeof t?.template === 'string' && t?.name === 'default');
      if (named) return new ChatTemplate(named.template, `${configFile} field "chat_template" (default)`, variables);
    }
    throw new TokenizerError(`${configFile}: field "chat_template" is ${JSON.stringify(field).slice(0, 80)}; expected a string or a list with a "default" template`);
  }

  /** The conversation as the model reads it. */
  render(messages: readonly ChatMessage[], options: ChatOptions = {}): string {
    messages.forEach((m, i) => {
      if (typeof m?.role !== 'string' || typeof m?.content !== 'string') throw new TokenizerError(`messages[${i}]: expected { role: string, content: string }, got ${JSON.stringify(m)}`);
    });
    try {
      return this.template.render({
        ...this.variables,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
      });
    } catch (e) {
      throw new TokenizerError(`${this.file}: the chat template failed to render: ${(e as Error).message}`);
    }
  }
}
