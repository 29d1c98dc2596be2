import { extname } from 'node:path';
import { Engine } from '@attnflow/kernels';
import { loadModel } from '@attnflow/models';
import { generateStream, runJob, TASKS, type JobConfig, type SourceConfig, type TaskName } from '@attnflow/pipeline';
import { from, lastValueFrom, tap, toArray } from 'rxjs';
import { runTask } from '@attnflow/pipeline';
import { EXIT, UsageError, int, num, type Command } from '../cli.js';
import { modelFor } from '../defaults.js';
import { exitCodeOf, interruptSignal, printSummary } from './run.js';

const GENERATION = new Set<TaskName>(['generate', 'translate', 'summarize']);

const SUMMARIES: Record<Exclude<TaskName, 'attention'>, string> = {
  embed: 'sentence embeddings (mean-pooled, L2-normalised)',
  classify: 'text classification / sentiment with a *ForSequenceClassification model',
  ner: 'named entities with a *ForTokenClassification model',
  qa: 'extractive question answering with a *ForQuestionAnswering model',
  'fill-mask': 'top tokens for each [MASK] with a *ForMaskedLM model',
  generate: 'text generation with GPT-2 (streams tokens)',
  translate: 'translation with an encoder-decoder (Marian, T5, BART)',
  summarize: 'summarisation with an encoder-decoder (BART, T5)',
};

function sourceFor(file: string, field: string | undefined, pairField: string | undefined): SourceConfig {
  const ext = extname(file).toLowerCase();
  const type = ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : ext === '.csv' ? 'csv' : ext === '.arrow' || ext === '.feather' || ext === '.arrows' ? 'arrow' : 'text';
  return { type, path: file, field, pairField };
}

export function taskCommand(task: Exclude<TaskName, 'attention'>): Command {
  const generation = GENERATION.has(task);
  const options: Command['options'] = {
    model: { type: 'string', short: 'm' },
    input: { type: 'string', short: 'i' },
    output: { type: 'string', short: 'o' },
    field: { type: 'string' },
    workers: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-length': { type: 'string' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean' },
  };
  let extra = '';
  if (task === 'qa') {
    Object.assign(options, { question: { type: 'string' }, context: { type: 'string' }, 'context-field': { type: 'string' } });
    extra += '  --question TEXT       the question (with --context)\n  --context TEXT        the passage to answer from\n  --context-field NAME  with --input: the column/field holding the context\n';
  }
  if (task === 'classify' || task === 'fill-mask') {
    options['top-k'] = { type: 'string' };
    extra += '  --top-k N             labels/tokens to return (default 1 / 5)\n';
  }
  if (task === 'embed') {
    Object.assign(options, { pooling: { type: 'string' }, 'no-normalize': { type: 'boolean' } });
    extra += '  --pooling mean|cls|max  how token states become one vector (default: the model\'s, else mean)\n  --no-normalize        keep the raw pooled vector\n';
  }
  if (generation) {
    Object.assign(options, {
      'max-new-tokens': { type: 'string' }, sample: { type: 'boolean' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
      'top-p': { type: 'string' }, seed: { type: 'string' }, beams: { type: 'string' }, 'repetition-penalty': { type: 'string' }, stop: { type: 'string', multiple: true },
    });
    extra += `  --max-new-tokens N    tokens to generate (default 20)
  --sample              sample instead of greedy decoding (with --temperature, --top-k, --top-p, --seed)
  --beams N             beam search with N beams
  --repetition-penalty X  discourage repeats (1 = off)
  --stop TEXT           stop when the output ends with TEXT (repeatable)
`;
  }
  return {
    name: task,
    summary: SUMMARIES[task],
    usage: task === 'qa' ? 'attnflow qa [--model DIR] --question Q --context C   |   --input FILE --context-field F' : `attnflow ${task} [--model DIR] "text" ["text" …]   |   --input FILE [--output FILE]`,
    options,
    help: `Options:
  -m, --model DIR       Hugging Face model directory (default: the embedded ${task} model)
  -i, --input FILE      read texts from a file (.txt lines, .jsonl, .csv, .arrow) instead of arguments
  -o, --output FILE     write results there (.jsonl or .arrow; default: JSON lines on stdout)
  --field NAME          with --input: the JSON field / CSV or Arrow column holding the text (default "text")
  --batch-size N        texts per batch (default 32)
  --max-length N        tokens per text at most (longer texts are truncated)
  --workers N           compute threads (default: all cores)
  --resume, --overwrite as for "attnflow run"
${extra}`,
    async run(v, pos) {
      const modelDir = modelFor(task, v.model);
      const taskOptions: Record<string, unknown> = {
        maxLength: int(v['max-length'], 'max-length', 1),
        maxInputTokens: int(v['max-length'], 'max-length', 1),
        topK: int(v['top-k'], 'top-k', 0),
        pooling: v.pooling,
        normalize: v['no-normalize'] ? false : undefined,
        maxNewTokens: int(v['max-new-tokens'], 'max-new-tokens', 1),
        doSample: v.sample,
        temperature: num(v.temperature, 'temperature'),
        topP: num(v['top-p'], 'top-p'),
        seed: int(v.seed, 'seed'),
        numBeams: int(v.beams, 'beams', 1),
        repetitionPenalty: num(v['repetition-penalty'], 'repetition-penalty'),
        stop: v.stop,
      };
      if (v.pooling !== undefined && !['mean', 'cls', 'max'].includes(v.pooling)) throw new UsageError(`--pooling must be mean, cls or max, got "${v.pooling}"`);
      for (const k of Object.keys(taskOptions)) if (taskOptions[k] === undefined) delete taskOptions[k];
      const batching = { batchSize: int(v['batch-size'], 'batch-size', 1) };
      const engine = new Engine({ workers: int(v.workers, 'workers') });
      try {
        const model = loadModel(modelDir, engine);
        if (!TASKS[task].kinds.includes(model.kind)) throw new UsageError(`${modelDir} (${model.config.architecture}) cannot do "${task}"; it needs ${TASKS[task].kinds.join(' or ')} models`);
        if (v.input) {
          const out = v.output as string | undefined;
          const job: JobConfig = {
            model: modelDir, task, source: sourceFor(v.input, v.field, v['context-field']),
            sink: out ? { type: out.endsWith('.arrow') ? 'arrow' : 'jsonl', path: out } : { type: 'stdout' },
            options: taskOptions, batching,
          };
          const summary = await runJob(model, job, { resume: v.resume, overwrite: v.overwrite, signal: interruptSignal(), progress: out ? undefined : false });
          printSummary(summary);
          return exitCodeOf(summary);
        }
        const texts = task === 'qa' ? [] : pos;
        if (task === 'qa') {
          if (!v.question || !v.context) throw new UsageError('qa needs --question and --context (or --input with --context-field)');
        } else if (!texts.length) throw new UsageError(`give texts as arguments or --input FILE; see "attnflow ${task} --help"`);
        if (task === 'generate' && texts.length === 1 && !(taskOptions.numBeams && (taskOptions.numBeams as number) > 1)) {
          // One prompt: stream the continuation as it is produced.
          process.stdout.write(texts[0]);
          await lastValueFrom(generateStream(model, texts[0], taskOptions).pipe(tap((e) => process.stdout.write(e.text))), { defaultValue: undefined });
          process.stdout.write('\n');
          return EXIT.ok;
        }
        const records = task === 'qa' ? [{ index: 0, text: v.question as string, pair: v.context as string }] : texts.map((text, index) => ({ index, text }));
        const rows = await lastValueFrom(from(records).pipe(runTask(model, task, { ...taskOptions, ...batching } as never), toArray()));
        for (const r of rows) process.stdout.write(`${JSON.stringify({ text: r.record.text, ...(r.result as object) }, (_k, x) => (x instanceof Float32Array ? Array.from(x) : x))}\n`);
        return EXIT.ok;
      } finally {
        await engine.close();
      }
    },
  };
}
