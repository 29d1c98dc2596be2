import { afterAll, describe, expect, it } from 'vitest';
import { lastValueFrom, toArray } from 'rxjs';
import { Engine } from '@attnflow/kernels';
import { Chat, chatIds, loadModel, requireChatTemplate } from '@attnflow/models';
import { chat as chatApi, chatText } from '@attnflow/pipeline';
import { cli } from './helpers/cli.js';
import { fixture, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());

const NAME = 'qwen2';
const dir = fixture('decoders', NAME);
const exp = readJson('decoders', NAME, 'expected.json');
const chatCase = exp.chat as { messages: { role: string; content: string }[] };
const system = chatCase.messages.find((m) => m.role === 'system')!.content;
const userTurns = chatCase.messages.filter((m) => m.role === 'user').map((m) => m.content);
const maxNewTokens = exp.generation.max_new_tokens as number;

/** What each turn should answer: the whole conversation so far re-read from scratch, greedy. */
async function expectedAnswers(turns: string[]): Promise<string[]> {
  const loaded = loadModel(dir, engine);
  if (loaded.kind !== 'causal') throw new Error('causal expected');
  const template = requireChatTemplate(dir);
  const messages = [{ role: 'system', content: system }];
  const eos = new Set([exp.generation.eos_token_ids].flat() as number[]);
  const answers: string[] = [];
  for (const turn of turns) {
    messages.push({ role: 'user', content: turn });
    const [gen] = await loaded.model.generate([chatIds(loaded.tokenizer, template, messages)], { maxNewTokens });
    const answer = loaded.tokenizer.decode(gen.filter((t) => !eos.has(t)), { skipSpecialTokens: true });
    messages.push({ role: 'assistant', content: answer });
    answers.push(answer);
  }
  loaded.model.dispose();
  return answers;
}

describe(`chat on decoders/${NAME}`, () => {
  it('a conversation kept in the cache answers as the conversation re-read from scratch', async () => {
    const expected = await expectedAnswers(userTurns);
    const loaded = loadModel(dir, engine);
    if (loaded.kind !== 'causal') throw new Error('causal expected');
    const chat = new Chat(loaded.model, loaded.tokenizer, requireChatTemplate(dir), { system, config: { maxNewTokens } });
    const answers: string[] = [];
    let cachedAfterFirst = 0;
    for (const turn of userTurns) {
      const events = await lastValueFrom(chat.send(turn).pipe(toArray()));
      answers.push(events.map((e) => e.text).join(''));
      cachedAfterFirst ||= chat.cachedTokens;
    }
    expect(answers).toEqual(expected);
    expect(chat.messages.map((m) => m.role)).toEqual(['system', ...userTurns.flatMap(() => ['user', 'assistant'])]);
    expect(cachedAfterFirst).toBeGreaterThan(0);
    // the later turns were fed to the cache as they came, not re-read
    expect(chat.fullReads).toBe(1);
    chat.reset();
    expect(chat.messages).toEqual([{ role: 'system', content: system }]);
    chat.dispose();
    loaded.model.dispose();
  });

  it('attnflow chat through stdin: streamed answers, /reset, --system', async () => {
    const expected = await expectedAnswers(userTurns);
    const input = `${userTurns.join('\n')}\n/reset\n${userTurns[0]}\n`;
    const r = cli(['chat', '--model', dir, '--system', system, '--max-new-tokens', String(maxNewTokens), '--workers', '0'], { input });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${expected.join('\n')}\n(new conversation)\n${expected[0]}\n`);
  });

  it('the API: chat, chatText (AsyncIterable) and generate --chat answer as transformers does', async () => {
    const full = exp.chat as { messages: { role: string; content: string }[]; input_ids: number[]; greedy_ids: number[] };
    const loaded = loadModel(dir, engine);
    const options = { decoder: { maxNewTokens } };
    const answer = await chatApi(loaded, full.messages, options);
    const eos = new Set([exp.generation.eos_token_ids].flat() as number[]);
    expect(answer.tokens).toEqual(full.greedy_ids.slice(full.input_ids.length).filter((t) => !eos.has(t)));
    let streamed = '';
    for await (const piece of chatText(loaded, full.messages, options)) streamed += piece;
    expect(streamed).toBe(answer.generated);
    const first = [{ role: 'system', content: system }, { role: 'user', content: userTurns[0] }];
    const one = await chatApi(loaded, first, options);
    const r = cli(['generate', '--chat', '--system', system, '--model', dir, '--max-new-tokens', String(maxNewTokens), userTurns[0]]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${one.generated}\n`);
    loaded.model.dispose();
  });

  it('a model without a chat template is refused with a clear message', () => {
    const r = cli(['chat', '--model', fixture('decoders', 'llama')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no chat template/);
  });
});
