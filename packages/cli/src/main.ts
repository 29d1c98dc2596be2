#!/usr/bin/env node
import { enableRelaxedSimd } from '@attnflow/kernels';
import { TASK_NAMES } from '@attnflow/pipeline';
import { EXIT, UsageError, commandHelp, parse, type Command } from './cli.js';
import { inspectCommand } from './commands/inspect.js';
import { runCommand } from './commands/run.js';
import { taskCommand } from './commands/tasks.js';
import { validateCommand } from './commands/validate.js';
import { workerCommand } from './commands/worker.js';
import { attentionCommand } from './commands/attention.js';
import { chatCommand } from './commands/chat.js';
import { explainCommand } from './commands/explain.js';
import { selfAttentionCommand } from './commands/selfattention.js';

// The CLI owns its process, so it may set the V8 flags the fused multiply-add kernels need (see enableRelaxedSimd).
enableRelaxedSimd();

const COMMANDS: Command[] = [
  runCommand, workerCommand, validateCommand, inspectCommand, chatCommand,
  ...TASK_NAMES.filter((t): t is Exclude<typeof t, 'attention'> => t !== 'attention').map((t) => taskCommand(t)),
  attentionCommand, explainCommand, selfAttentionCommand,
];

function mainHelp(): string {
  return `attnflow — Transformer models as streaming data pipelines

Usage: attnflow <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

"attnflow <command> --help" shows a command's options.
Exit codes: 0 ok, 1 error, 2 bad usage, 3 finished with dead-lettered records, 130 stopped by Ctrl-C or SIGTERM.
`;
}

// `attnflow … | head` closes stdout early: end quietly with 0, as other Unix tools do, not with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version') {
    process.stdout.write('attnflow 0.1.0\n');
    return EXIT.ok;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
  const { values, positionals } = parse(cmd, rest);
  if (values.help) {
    process.stdout.write(commandHelp(cmd));
    return EXIT.ok;
  }
  return cmd.run(values, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`attnflow: ${e.message}\n`);
    process.exitCode = e instanceof UsageError ? EXIT.usage : EXIT.failed;
  },
);
