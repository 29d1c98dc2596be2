import { createInterface } from 'node:readline';
import { lastValueFrom, tap } from 'rxjs';
import { Engine } from '@attnflow/kernels';
import { Chat, loadModel, requireChatTemplate } from '@attnflow/models';
import { DTYPE_HELP, EXIT, UsageError, dtypeFlag, int, str, type Command } from '../cli.js';

export const chatCommand: Command = {
  name: 'chat',
  summary: 'talk with an instruction-tuned causal LM (streams its answers, keeps the conversation cached)',
  usage: 'attnflow chat --model DIR [--system TEXT] [--max-new-tokens N]',
  options: {
    model: { type: 'string', short: 'm' },
    system: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    workers: { type: 'string' },
    dtype: { type: 'string' },
  },
  help: `Options:
  -m, --model DIR       a model directory with a chat template (chat_template.jinja or tokenizer_config.json)
  --system TEXT         a system message opening the conversation
  --max-new-tokens N    an answer's length at most (default: the model's generation config, else 512)
  --workers N           compute threads (default: the number of cores)
${DTYPE_HELP}Each line you type is one user turn. /reset starts a new conversation; /exit or end of input leaves.`,
  async run(v) {
    const dir = str(v.model);
    if (!dir) throw new UsageError('chat needs --model DIR');
    const engine = new Engine({ workers: int(v.workers, 'workers') });
    try {
      const loaded = loadModel(dir, engine, { dtype: dtypeFlag(v.dtype) });
      if (loaded.kind !== 'causal') throw new UsageError(`${dir}: chat needs a causal language model; this is a ${loaded.kind} model`);
      const chat = new Chat(loaded.model, loaded.tokenizer, requireChatTemplate(dir), { system: str(v.system), config: { maxNewTokens: int(v['max-new-tokens'], 'max-new-tokens', 1) } });
      const interactive = process.stdin.isTTY === true;
      const lines = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, prompt: '> ' });
      if (interactive) lines.prompt();
      try {
        for await (const line of lines) {
          const text = line.trim();
          if (text === '/exit') break;
          if (text === '/reset') {
            chat.reset();
            process.stdout.write('(new conversation)\n');
          } else if (text) {
            await lastValueFrom(chat.send(line).pipe(tap((e) => process.stdout.write(e.text))), { defaultValue: undefined });
            process.stdout.write('\n');
          }
          if (interactive) lines.prompt();
        }
      } finally {
        lines.close();
        chat.dispose();
      }
      return EXIT.ok;
    } finally {
      await engine.close();
    }
  },
};
