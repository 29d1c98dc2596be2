import { extname } from 'node:path';
import { Engine } from '@attnflow/kernels';
import { ConfigError, loadModel } from '@attnflow/models';
import { checkTask, conversationStream, GENERATION_TASKS, TaskError, generateStream, runJob, runTask, validateSettings, type JobConfig, type SourceConfig, type TaskName } from '@attnflow/pipeline';
import { from, lastValueFrom, tap, toArray } from 'rxjs';
import { EXIT, UsageError, str, type Command, type Values } from '../cli.js';
import { modelFor } from '../defaults.js';
import { exitCodeOf, interruptSignal, printSummary } from './run.js';

type CliTask = Exclude<TaskName, 'attention'>;

const SUMMARIES: Record<CliTask, string> = {
  embed: 'sentence embeddings (the model\'s pooling, else mean; L2-normalised)',
  classify: 'text classification / sentiment (and text pairs, --pair) with a *ForSequenceClassification model',
  rerank: 'cross-encoder scores of documents for a query (--query), best first',
  'zero-shot': 'zero-shot classification into --label LABEL … with an NLI model',
  ner: 'named entities with a *ForTokenClassification model',
  qa: 'extractive question answering with a *ForQuestionAnswering model',
  'fill-mask': 'top tokens for each [MASK] with a *ForMaskedLM model',
  generate: 'text generation with a causal language model (streams tokens)',
  translate: 'translation with an encoder-decoder (Marian, T5, BART, mBART, M2M100/NLLB: --src/--tgt)',
  summarize: 'summarisation with an encoder-decoder (BART, T5, Pegasus)',
};

/**
 * A flag that sets a task setting: where it lands in a pipeline file's shape (`stages.decoder.numBeams`), so CLI
 * flags and pipeline files are checked by one schema and reach the task as the same typed options.
 */
interface SettingFlag {
  flag: string;
  path: string;
  kind: 'int' | 'number' | 'string' | 'true' | 'false' | 'strings';
  help: string;
  tasks: readonly CliTask[];
}

const ALL: readonly CliTask[] = ['embed', 'classify', 'rerank', 'zero-shot', 'ner', 'qa', 'fill-mask', 'generate', 'translate', 'summarize'];
const DECODING = GENERATION_TASKS.filter((t): t is CliTask => t !== 'attention');

const SETTINGS: SettingFlag[] = [
  { flag: 'batch-size', path: 'batching.batchSize', kind: 'int', help: 'texts per batch (default 32)', tasks: ALL },
  { flag: 'workers', path: 'workers', kind: 'int', help: 'compute threads (default: all cores)', tasks: ALL },
  { flag: 'dtype', path: 'dtype', kind: 'string', help: 'fp32|q8|q4: float weights as stored (default), linear layers in 8 bits, or in 4 bits (decoding)', tasks: ALL },
  { flag: 'max-length', path: 'stages.tokenizer.maxLength', kind: 'int', help: 'tokens per text at most (longer texts are truncated)', tasks: ALL },
  { flag: 'pooling', path: 'stages.head.pooling', kind: 'string', help: "cls|mean|max|mean_sqrt_len_tokens|weightedmean|lasttoken (default: the model's, else mean)", tasks: ['embed'] },
  { flag: 'no-normalize', path: 'stages.head.normalize', kind: 'false', help: 'keep the raw pooled vector', tasks: ['embed'] },
  { flag: 'top-k', path: 'stages.head.topK', kind: 'int', help: 'labels/tokens/answers to return (default 1 / 5 / 1)', tasks: ['classify', 'fill-mask', 'qa'] },
  { flag: 'function-to-apply', path: 'stages.head.functionToApply', kind: 'string', help: "softmax|sigmoid|none (default: as the model's problem type)", tasks: ['classify'] },
  { flag: 'activation', path: 'stages.head.activation', kind: 'string', help: "identity|sigmoid|tanh|relu|gelu on the logits (default: the cross-encoder's own)", tasks: ['rerank'] },
  { flag: 'label', path: 'stages.head.candidateLabels', kind: 'strings', help: 'a candidate label (repeatable)', tasks: ['zero-shot'] },
  { flag: 'template', path: 'stages.head.hypothesisTemplate', kind: 'string', help: 'hypothesis with {} for the label (default "This example is {}.")', tasks: ['zero-shot'] },
  { flag: 'multi-label', path: 'stages.head.multiLabel', kind: 'true', help: 'score each label on its own', tasks: ['zero-shot'] },
  { flag: 'aggregation', path: 'stages.head.aggregation', kind: 'string', help: 'none|simple|first|average|max (default simple)', tasks: ['ner'] },
  { flag: 'ignore-label', path: 'stages.head.ignoreLabels', kind: 'strings', help: 'a label to leave out (repeatable; default O)', tasks: ['ner'] },
  { flag: 'max-answer-len', path: 'stages.head.maxAnswerLen', kind: 'int', help: 'longest answer, in tokens (default 15)', tasks: ['qa'] },
  { flag: 'doc-stride', path: 'stages.head.docStride', kind: 'int', help: 'context tokens consecutive windows share', tasks: ['qa'] },
  { flag: 'handle-impossible-answer', path: 'stages.head.handleImpossibleAnswer', kind: 'true', help: 'allow "no answer"', tasks: ['qa'] },
  { flag: 'target', path: 'stages.head.targets', kind: 'strings', help: 'score only this word (repeatable)', tasks: ['fill-mask'] },
  { flag: 'src', path: 'stages.head.srcLang', kind: 'string', help: "source language (T5 en: picks the task prefix; mBART en_XX, M2M100 en, NLLB eng_Latn; default: the tokenizer's)", tasks: ['translate'] },
  { flag: 'tgt', path: 'stages.head.tgtLang', kind: 'string', help: "target language (T5 de; mBART/M2M100: forced first token; default: the tokenizer's tgt_lang)", tasks: ['translate'] },
  { flag: 'max-new-tokens', path: 'stages.decoder.maxNewTokens', kind: 'int', help: "tokens to generate at most (default: the model's generation config, else 20 / 64)", tasks: DECODING },
  { flag: 'min-new-tokens', path: 'stages.decoder.minNewTokens', kind: 'int', help: 'no end of sequence before this many tokens', tasks: DECODING },
  { flag: 'sample', path: 'stages.decoder.doSample', kind: 'true', help: 'sample instead of greedy decoding (with --temperature, --top-k, --top-p, --seed)', tasks: DECODING },
  { flag: 'temperature', path: 'stages.decoder.temperature', kind: 'number', help: 'sampling temperature', tasks: DECODING },
  { flag: 'top-k', path: 'stages.decoder.topK', kind: 'int', help: 'sample among the k most likely tokens', tasks: DECODING },
  { flag: 'top-p', path: 'stages.decoder.topP', kind: 'number', help: 'sample among the most likely tokens reaching probability p', tasks: DECODING },
  { flag: 'seed', path: 'stages.decoder.seed', kind: 'int', help: 'seed of the sampler', tasks: DECODING },
  { flag: 'beams', path: 'stages.decoder.numBeams', kind: 'int', help: 'beam search with N beams', tasks: DECODING },
  { flag: 'length-penalty', path: 'stages.decoder.lengthPenalty', kind: 'number', help: 'beam scores are divided by length^X', tasks: DECODING },
  { flag: 'repetition-penalty', path: 'stages.decoder.repetitionPenalty', kind: 'number', help: 'discourage repeats (1 = off)', tasks: DECODING },
  { flag: 'no-repeat-ngram-size', path: 'stages.decoder.noRepeatNgramSize', kind: 'int', help: 'no n-gram of this size twice', tasks: DECODING },
  { flag: 'min-length', path: 'stages.decoder.minLength', kind: 'int', help: 'no end of sequence before this total length', tasks: DECODING },
  { flag: 'max-output-length', path: 'stages.decoder.maxLength', kind: 'int', help: 'total length at most (maxNewTokens wins when both are set)', tasks: DECODING },
  { flag: 'stop', path: 'stages.decoder.stopStrings', kind: 'strings', help: 'stop when the output ends with TEXT (repeatable)', tasks: DECODING },
];

function settingValue(s: SettingFlag, raw: Values[string]): unknown {
  if (s.kind === 'true' || s.kind === 'false') return raw ? s.kind === 'true' : undefined;
  if (s.kind === 'strings' || s.kind === 'string' || typeof raw !== 'string') return raw;
  const n = Number(raw);
  if (raw.trim() === '' || Number.isNaN(n)) throw new UsageError(`--${s.flag} must be a number, got "${raw}"`);
  return n;
}

/** The flags' settings in a pipeline file's shape, checked by the pipeline schema; errors name the flags. */
function settingsFromFlags<N extends CliTask>(task: N, flags: SettingFlag[], v: Values) {
  const tree: Record<string, unknown> = {};
  for (const s of flags) {
    const value = settingValue(s, v[s.flag]);
    if (value === undefined) continue;
    const keys = s.path.split('.');
    let node = tree;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[keys[keys.length - 1]] = value;
  }
  const byPath = new Map(flags.map((s) => [s.path, `--${s.flag}`]));
  try {
    return validateSettings(task, tree, (path) => byPath.get(path) ?? path);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nRun "attnflow ${task} --help" for the options.`);
  }
}

function sourceFor(file: string, field: string | undefined, pairField: string | undefined): SourceConfig {
  const ext = extname(file).toLowerCase();
  const type = ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : ext === '.csv' ? 'csv' : ext === '.arrow' || ext === '.feather' || ext === '.arrows' ? 'arrow' : 'text';
  return { type, path: file, field, pairField };
}

const USAGE: Partial<Record<CliTask, string>> = {
  qa: 'attnflow qa [--model DIR] --question Q --context C   |   --input FILE --context-field F',
  rerank: 'attnflow rerank --model DIR --query Q "document" ["document" …]   |   --input FILE --field QUERY --pair-field DOC',
  'zero-shot': 'attnflow zero-shot --model DIR --label L --label M "text" ["text" …]   |   --input FILE',
};

const score = (result: unknown): number => (typeof result === 'object' && result !== null && 'score' in result && typeof result.score === 'number' ? result.score : 0);

const pad = (s: string) => (s.length < 22 ? s.padEnd(22) : `${s} `);

export function taskCommand<N extends CliTask>(task: N): Command {
  const flags = SETTINGS.filter((s) => s.tasks.includes(task));
  const options: Command['options'] = {
    model: { type: 'string', short: 'm' },
    input: { type: 'string', short: 'i' },
    output: { type: 'string', short: 'o' },
    field: { type: 'string' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean' },
  };
  for (const s of flags) options[s.flag] = s.kind === 'true' || s.kind === 'false' ? { type: 'boolean' } : { type: 'string', multiple: s.kind === 'strings' };
  let extra = '';
  if (task === 'generate') {
    Object.assign(options, { chat: { type: 'boolean' }, system: { type: 'string' } });
    extra += '  --chat                each text (argument or --input record) is a user message, rendered with the model\'s chat template\n  --system TEXT         with --chat: a system message before it\n';
  }
  if (task === 'qa') {
    Object.assign(options, { question: { type: 'string' }, context: { type: 'string' }, 'context-field': { type: 'string' } });
    extra += '  --question TEXT       the question (with --context)\n  --context TEXT        the passage to answer from\n  --context-field NAME  with --input: the column/field holding the context\n';
  }
  if (task === 'classify') {
    Object.assign(options, { pair: { type: 'string' }, 'pair-field': { type: 'string' } });
    extra += '  --pair TEXT           the second text of a pair (premise/hypothesis, query/passage)\n  --pair-field NAME     with --input: the column/field holding the second text\n';
  }
  if (task === 'rerank') {
    Object.assign(options, { query: { type: 'string' }, 'pair-field': { type: 'string' } });
    extra += '  --query TEXT          the query the documents (arguments) are scored for\n  --pair-field NAME     with --input: the column/field holding the document (--field: the query)\n';
  }
  const valueOf = (s: SettingFlag) => ({ int: ' N', number: ' X', string: ' MODE', strings: ' TEXT', true: '', false: '' })[s.kind];
  return {
    name: task,
    summary: SUMMARIES[task],
    usage: USAGE[task] ?? `attnflow ${task} [--model DIR] "text" ["text" …]   |   --input FILE [--output FILE]`,
    options,
    help: `Options:
  -m, --model DIR       Hugging Face model directory (default: the embedded ${task} model)
  -i, --input FILE      read texts from a file (.txt lines, .jsonl, .csv, .arrow) instead of arguments
  -o, --output FILE     write results there (.jsonl or .arrow; default: JSON lines on stdout)
  --field NAME          with --input: the JSON field / CSV or Arrow column holding the text (default "text")
  --resume, --overwrite as for "attnflow run"
${extra}${flags.map((s) => `  ${pad(`--${s.flag}${valueOf(s)}`)}${s.help}`).join('\n')}
Each setting has the same name, type and limits as in a pipeline file (attnflow validate --help).`,
    async run(v, pos) {
      const modelDir = modelFor(task, str(v.model));
      const { options: taskOptions, batching, workers, dtype } = settingsFromFlags(task, flags, v);
      const engine = new Engine({ workers });
      try {
        const model = loadModel(modelDir, engine, { dtype });
        try {
          checkTask(model, task, taskOptions);
        } catch (e) {
          throw e instanceof TaskError || e instanceof ConfigError ? new UsageError((e as Error).message) : e;
        }
        const input = str(v.input);
        const system = str(v.system);
        if (system !== undefined && v.chat !== true) throw new UsageError('--system goes with --chat');
        if (input) {
          const out = str(v.output);
          const job: JobConfig<N> = {
            model: modelDir, task, source: sourceFor(input, str(v.field), str(v['context-field']) ?? str(v['pair-field'])),
            sink: out ? { type: out.endsWith('.arrow') ? 'arrow' : 'jsonl', path: out } : { type: 'stdout' },
            // with --chat, each text is the user's turn after the system message, as `stages.head.messages` says it
            options: v.chat === true ? { ...taskOptions, head: { ...taskOptions.head, messages: system === undefined ? [] : [{ role: 'system', content: system }] } } : taskOptions,
            batching,
          };
          const summary = await runJob(model, job, { resume: v.resume === true, overwrite: v.overwrite === true, signal: interruptSignal(), progress: out ? undefined : false });
          printSummary(summary);
          return exitCodeOf(summary);
        }
        const question = str(v.question);
        const context = str(v.context);
        if (task === 'qa') {
          if (!question || !context) throw new UsageError('qa needs --question and --context (or --input with --context-field)');
        } else if (!pos.length) throw new UsageError(`give texts as arguments or --input FILE; see "attnflow ${task} --help"`);
        if (task === 'generate' && v.chat === true) {
          // Each text is one conversation of a user message: the answers stream one after another.
          for (const text of pos) {
            const messages = [...(system === undefined ? [] : [{ role: 'system', content: system }]), { role: 'user', content: text }];
            await lastValueFrom(conversationStream(model, messages, taskOptions.decoder).pipe(tap((e) => process.stdout.write(e.text))), { defaultValue: undefined });
            process.stdout.write('\n');
          }
          return EXIT.ok;
        }
        if (task === 'generate' && pos.length === 1 && (taskOptions.decoder.numBeams ?? 1) === 1) {
          // One prompt: stream the continuation as it is produced.
          process.stdout.write(pos[0]);
          await lastValueFrom(generateStream(model, pos[0], { tokenizer: taskOptions.tokenizer, decoder: taskOptions.decoder }).pipe(tap((e) => process.stdout.write(e.text))), { defaultValue: undefined });
          process.stdout.write('\n');
          return EXIT.ok;
        }
        const query = str(v.query);
        if (task === 'rerank' && query === undefined) throw new UsageError('rerank needs --query and documents as arguments (or --input with --pair-field)');
        const pair = str(v.pair);
        const records = question !== undefined && context !== undefined
          ? [{ index: 0, text: question, pair: context }]
          : query !== undefined ? pos.map((doc, index) => ({ index, text: query, pair: doc })) : pos.map((text, index) => ({ index, text, pair }));
        const rows = await lastValueFrom(from(records).pipe(runTask(model, task, taskOptions, batching), toArray()));
        // A reranking is read best first, as CrossEncoder.rank returns it; corpusId is the document's position.
        const shown = task === 'rerank' ? rows.map((r, i) => ({ ...r, corpusId: i })).sort((a, b) => score(b.result) - score(a.result)) : rows.map((r, i) => ({ ...r, corpusId: i }));
        for (const r of shown) {
          const head = task === 'rerank' ? { corpusId: r.corpusId, text: r.record.pair } : { text: r.record.text, ...(r.record.pair === undefined ? {} : { pair: r.record.pair }) };
          process.stdout.write(`${JSON.stringify({ ...head, ...r.result }, (_k, x) => (x instanceof Float32Array ? Array.from(x) : x))}\n`);
        }
        return EXIT.ok;
      } finally {
        await engine.close();
      }
    },
  };
}
