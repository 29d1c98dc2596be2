import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '@attnflow/kernels';
import { loadModel, resolveGenerationConfig } from '@attnflow/models';
import { chat as chatApi, conversationIds, generate, readPipelineFile, PipelineError } from '@attnflow/pipeline';
import { cli, tempDir, writePipeline } from './helpers/cli.js';
import { fixture, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 2, minPoolFlops: 0 });
afterAll(() => engine.close());

const NAME = 'qwen2';
const dir = fixture('decoders', NAME);
const exp = readJson('decoders', NAME, 'expected.json');
const full = exp.chat as { messages: { role: string; content: string }[]; input_ids: number[]; greedy_ids: number[] };
const maxNewTokens = exp.generation.max_new_tokens as number;
const eos = new Set([exp.generation.eos_token_ids].flat() as number[]);
/** The fixed turns of a pipeline file: all but the last user message, which each record brings. */
const fixed = full.messages.slice(0, -1);
const lastTurn = full.messages[full.messages.length - 1];
/** What transformers generated after apply_chat_template, up to and including an EOS. */
const greedyNew = (() => {
  const ids = full.greedy_ids.slice(full.input_ids.length);
  const end = ids.findIndex((t) => eos.has(t));
  return end >= 0 ? ids.slice(0, end + 1) : ids;
})();

const readJsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const yamlMessages = (messages: readonly { role: string; content: string }[]) => messages.map((m) => `      - { role: ${m.role}, content: ${JSON.stringify(m.content)} }`).join('\n');

describe(`chat in pipeline files and the API on decoders/${NAME}`, () => {
  it('stages.head.messages: a record as the last user turn renders the ids of apply_chat_template, and generates its greedy ids', async () => {
    const work = tempDir();
    writeFileSync(join(work, 'in.jsonl'), `${JSON.stringify({ text: lastTurn.content })}\n`);
    const file = writePipeline(work, 'chat.yaml', `model: ${dir}\ntask: generate\nsource: { type: jsonl, path: in.jsonl }\nstages:\n  decoder: { maxNewTokens: ${maxNewTokens} }\n  head:\n    messages:\n${yamlMessages(fixed)}\nsink: { type: jsonl, path: out.jsonl }\n`);
    const spec = readPipelineFile(file);
    expect(spec.stages?.head).toEqual({ messages: fixed });

    const loaded = loadModel(dir, engine);
    if (loaded.kind !== 'causal') throw new Error('causal expected');
    const decoder = resolveGenerationConfig({}, { maxNewTokens });
    expect(conversationIds(loaded, [{ index: 0, text: lastTurn.content }], fixed, {}, decoder)).toEqual([full.input_ids]);
    expect(conversationIds(loaded, [{ index: 0, text: '', messages: full.messages }], [], {}, decoder)).toEqual([full.input_ids]);

    const r = cli(['run', file, '--no-progress', '--workers', '1']);
    expect(r.stderr).toMatch(/1 ok, 0 dead-lettered/);
    expect(r.code).toBe(0);
    const [row] = readJsonl(join(work, 'out.jsonl'));
    expect(row.tokens).toEqual(greedyNew);
    // the same conversation through the API's chat call
    const answer = await chatApi(loaded, full.messages, { decoder: { maxNewTokens } });
    expect(answer.tokens).toEqual(greedyNew.filter((t) => !eos.has(t)));
    expect(row.generated).toBe(answer.generated);
    loaded.model.dispose();
  });

  it('source.messagesField: records that are whole conversations; a malformed one is dead-lettered naming file, line and field', () => {
    const work = tempDir();
    const lines = [
      JSON.stringify({ id: 1, conversation: full.messages }),
      JSON.stringify({ id: 2, conversation: [{ role: 'user', content: 7 }] }),
      JSON.stringify({ id: 3, conversation: 'hello' }),
      JSON.stringify({ id: 4, conversation: full.messages.slice(1) }),
    ];
    writeFileSync(join(work, 'talks.jsonl'), `${lines.join('\n')}\n`);
    // the system prompt comes from the pipeline file for the fourth record, and from the record for the first
    const file = writePipeline(work, 'talks.yaml', `model: ${dir}\ntask: generate\nsource: { type: jsonl, path: talks.jsonl, messagesField: conversation }\nstages:\n  decoder: { maxNewTokens: ${maxNewTokens} }\nsink: { type: jsonl, path: out.jsonl }\n`);
    const r = cli(['run', file, '--no-progress', '--workers', '1']);
    expect(r.code).not.toBe(0);
    const rows = readJsonl(join(work, 'out.jsonl'));
    expect(rows.map((x) => x.index)).toEqual([0, 3]);
    expect(rows[0].tokens).toEqual(greedyNew);
    expect(rows[0].text).toBe(lastTurn.content);
    const dead = readJsonl(join(work, 'out.jsonl.dead-letter.jsonl'));
    expect(dead.map((d) => [d.line, d.error])).toEqual([
      [2, 'conversation[0].content is number, expected a string'],
      [3, 'field "conversation" is string, expected an array of {role, content} messages'],
    ]);
    expect(dead.every((d) => String(d.file).endsWith('talks.jsonl'))).toBe(true);

    const withSystem = writePipeline(work, 'talks2.yaml', `model: ${dir}\ntask: generate\nsource: { type: jsonl, path: talks.jsonl, messagesField: conversation }\nstages:\n  decoder: { maxNewTokens: ${maxNewTokens} }\n  head:\n    messages:\n${yamlMessages(full.messages.slice(0, 1))}\nsink: { type: jsonl, path: out2.jsonl }\n`);
    cli(['run', withSystem, '--no-progress', '--workers', '1']);
    expect(readJsonl(join(work, 'out2.jsonl')).find((x) => x.index === 3)?.tokens).toEqual(greedyNew);
  });

  it('the API: generate with head.messages, or with a conversation as the prompt, answers as chat does', async () => {
    const loaded = loadModel(dir, engine);
    const options = { decoder: { maxNewTokens } };
    const [fromFixed] = await generate(loaded, [lastTurn.content], { ...options, head: { messages: fixed } });
    const [fromConversation] = await generate(loaded, [full.messages], options);
    expect(fromFixed.tokens).toEqual(greedyNew);
    expect(fromConversation).toEqual(fromFixed);
    expect(fromFixed.generated).toBe((await chatApi(loaded, full.messages, options)).generated);
    await expect(generate(loaded, [[]], options)).rejects.toThrow(/at least one message/);
    loaded.model.dispose();
  });

  it('generate --chat --input: each record is the user turn after --system', () => {
    const work = tempDir();
    const system = full.messages.find((m) => m.role === 'system')!.content;
    const user = full.messages.find((m) => m.role === 'user')!.content;
    writeFileSync(join(work, 'in.jsonl'), `${JSON.stringify({ text: user })}\n`);
    const r = cli(['generate', '--chat', '--system', system, '--model', dir, '--max-new-tokens', String(maxNewTokens), '--input', join(work, 'in.jsonl'), '--output', join(work, 'out.jsonl')]);
    expect(r.code).toBe(0);
    const direct = cli(['generate', '--chat', '--system', system, '--model', dir, '--max-new-tokens', String(maxNewTokens), user]);
    expect(`${readJsonl(join(work, 'out.jsonl'))[0].generated}\n`).toBe(direct.stdout);
    expect(cli(['generate', '--system', system, '--model', dir, user]).stderr).toMatch(/--system goes with --chat/);
  });

  it('bad chat settings are refused with the file, line and field', () => {
    const work = tempDir();
    writeFileSync(join(work, 'in.jsonl'), '{}\n');
    const badRole = writePipeline(work, 'bad.yaml', `model: ${dir}\ntask: generate\nsource: { type: jsonl, path: in.jsonl }\nstages:\n  head:\n    messages:\n      - { content: hi }\nsink: { type: stdout }\n`);
    expect(() => readPipelineFile(badRole)).toThrow(/bad\.yaml:7:\d+: stages\.head\.messages\.0 needs "role"/);
    const wrongTask = writePipeline(work, 'embed.yaml', `model: ${dir}\ntask: embed\nsource: { type: jsonl, path: in.jsonl, messagesField: conversation }\nsink: { type: stdout }\n`);
    expect(() => readPipelineFile(wrongTask)).toThrow(PipelineError);
    expect(() => readPipelineFile(wrongTask)).toThrow(/messagesField .* is for task generate, not embed/);
    const csv = writePipeline(work, 'csv.yaml', `model: ${dir}\ntask: generate\nsource: { type: csv, path: in.csv, messagesField: conversation }\nsink: { type: stdout }\n`);
    expect(() => readPipelineFile(csv)).toThrow(/messagesField needs a jsonl source/);
    const headOnEmbed = writePipeline(work, 'head.yaml', `model: ${dir}\ntask: embed\nsource: { type: jsonl, path: in.jsonl }\nstages:\n  head:\n    messages: []\nsink: { type: stdout }\n`);
    expect(() => readPipelineFile(headOnEmbed)).toThrow(/stages\.head\.messages is not an option of task embed/);
    const llama = writePipeline(work, 'llama.yaml', `model: ${fixture('decoders', 'llama')}\ntask: generate\nsource: { type: jsonl, path: in.jsonl }\nstages:\n  head:\n    messages: []\nsink: { type: stdout }\n`);
    const r = cli(['run', llama, '--no-progress']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no chat template/);
  });
});
