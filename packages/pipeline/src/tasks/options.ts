import type { Aggregation, ClassifyFunction, DenseActivation } from '@attnflow/head';
import type { GenerationConfig, PoolingMode } from '@attnflow/models';
import type { ChatMessage } from '@attnflow/tokenizer';

/** Every task by the name pipeline files, the CLI and the API use. */
export const TASK_NAMES = ['embed', 'classify', 'rerank', 'zero-shot', 'ner', 'qa', 'fill-mask', 'generate', 'translate', 'summarize', 'attention'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** The tasks that decode, and so read `stages.decoder`. */
export const GENERATION_TASKS: readonly TaskName[] = ['generate', 'translate', 'summarize', 'attention'];

/** `stages.tokenizer`: how texts become token ids. */
export interface TokenizerOptions {
  /** Tokens per input at most (default: the model's limit). */
  maxLength?: number;
  /** false: an input longer than maxLength is an error (dead-lettered in jobs) instead of being cut. */
  truncation?: boolean;
}

/** `stages.head` of each task: what turns the model's outputs into the task's answer. */
export interface HeadOptions {
  embed: {
    /** Default: the model's sentence-transformers pooling, else mean. */
    pooling?: PoolingMode;
    /** L2-normalise (default: as the model's modules.json says, else true). */
    normalize?: boolean;
  };
  classify: {
    /** How many labels to return per text (default 1). */
    topK?: number;
    /** softmax | sigmoid | none (default as Hugging Face: none for regression, sigmoid for multi-label or one label). */
    functionToApply?: ClassifyFunction;
  };
  rerank: {
    /** Applied to the logits (default: the cross-encoder's own, else sigmoid for one label). */
    activation?: DenseActivation;
  };
  'zero-shot': {
    /** The labels to choose among. */
    candidateLabels?: string[];
    /** The hypothesis each label is put into; {} marks the label (default "This example is {}."). */
    hypothesisTemplate?: string;
    /** Score each label on its own (entailment vs contradiction) instead of one softmax over all. */
    multiLabel?: boolean;
  };
  ner: {
    /** none | simple | first | average | max, as Hugging Face's aggregation_strategy (default simple). */
    aggregation?: Aggregation;
    /** Labels (or groups) left out (default ["O"]). */
    ignoreLabels?: string[];
  };
  qa: {
    /** Longest answer, in tokens (default 15). */
    maxAnswerLen?: number;
    /** Context tokens consecutive windows share (default min(maxLength / 2, 128)). */
    docStride?: number;
    /** Answers to return (default 1). */
    topK?: number;
    /** Offer "no answer" when it scores better. */
    handleImpossibleAnswer?: boolean;
  };
  'fill-mask': {
    /** Tokens to return per mask (default 5). */
    topK?: number;
    /** Score only these words (each a vocabulary entry, else its first token). */
    targets?: string[];
  };
  generate: {
    /**
     * Chat: a fixed conversation (a system prompt, few-shot user/assistant turns) that each record follows as
     * the last user turn, rendered with the model's chat template; `[]` for chat without fixed turns. A record
     * that is a whole conversation (source.messagesField) comes after these messages instead.
     */
    messages?: ChatMessage[];
  };
  translate: {
    /**
     * Source language. T5: with tgtLang, picks task_specific_params.translation_<srcLang>_to_<tgtLang> and its
     * prefix; mBART/M2M100/NLLB: the code as the tokenizer names it (en_XX, en, eng_Latn), default its src_lang.
     */
    srcLang?: string;
    /** Target language. T5: see srcLang; mBART/M2M100/NLLB: forced as the first generated token, default the tokenizer's tgt_lang. */
    tgtLang?: string;
  };
  summarize: Record<string, never>;
  attention: {
    /** Encoder-decoders: the target text to teacher-force; default: the model's own greedy output. */
    target?: string;
  };
}

/** The keys `stages.head` may have for each task (checked when a pipeline is validated). */
export const HEAD_KEYS: { [N in TaskName]: (keyof HeadOptions[N])[] } = {
  embed: ['pooling', 'normalize'],
  classify: ['topK', 'functionToApply'],
  rerank: ['activation'],
  'zero-shot': ['candidateLabels', 'hypothesisTemplate', 'multiLabel'],
  ner: ['aggregation', 'ignoreLabels'],
  qa: ['maxAnswerLen', 'docStride', 'topK', 'handleImpossibleAnswer'],
  'fill-mask': ['topK', 'targets'],
  generate: ['messages'],
  translate: ['srcLang', 'tgtLang'],
  summarize: [],
  attention: ['target'],
};

/**
 * A task's options, one object per stage of the data path. The same shape comes from a pipeline file's
 * `stages`, from CLI flags and from API calls, so a setting keeps its name and type from where it is written down
 * to the code that uses it. `decoder` is a Hugging Face generation config, laid over the model's own.
 */
export interface TaskOptions<N extends TaskName = TaskName> {
  tokenizer: TokenizerOptions;
  decoder: GenerationConfig;
  head: HeadOptions[N];
}

/** What a caller may leave out: every stage is optional. */
export type TaskOptionsInput<N extends TaskName = TaskName> = { [S in keyof TaskOptions<N>]?: TaskOptions<N>[S] };

const defined = <T extends object>(o: T | undefined): Partial<T> =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Layers of options, later ones winning stage by stage and key by key: `head.topK` never touches `decoder.topK`. */
export function mergeTaskOptions<N extends TaskName>(...layers: (TaskOptionsInput<N> | undefined)[]): TaskOptions<N> {
  const out: TaskOptions<N> = { tokenizer: {}, decoder: {}, head: {} as HeadOptions[N] };
  for (const layer of layers) {
    out.tokenizer = { ...out.tokenizer, ...defined(layer?.tokenizer) };
    out.decoder = { ...out.decoder, ...defined(layer?.decoder) };
    out.head = { ...out.head, ...defined(layer?.head) };
  }
  return out;
}
