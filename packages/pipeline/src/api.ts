import { loadModel, type LoadedModel } from '@attnflow/models';
import type { Answer, Entity } from '@attnflow/head';
import { from, lastValueFrom, toArray } from 'rxjs';
import { runTask } from './operators.js';
import type { BatchingOptions } from './batching.js';
import type { ClassifyOptions, EmbedOptions, EncodeOptions, FillMaskOptions, FillMaskPrediction, GenerationOptions, GenerationResult, QaOptions, TaskName } from './tasks/index.js';

/** A loaded model, or the path of a Hugging Face model directory (loaded once and kept). */
export type ModelRef = LoadedModel | string;
const cache = new Map<string, LoadedModel>();

export function resolveModel(ref: ModelRef): LoadedModel {
  if (typeof ref !== 'string') return ref;
  let m = cache.get(ref);
  if (!m) {
    m = loadModel(ref);
    cache.set(ref, m);
  }
  return m;
}

async function all<R>(ref: ModelRef, task: TaskName, records: { text: string; pair?: string }[], options: object): Promise<R[]> {
  const model = resolveModel(ref);
  const rows = await lastValueFrom(from(records.map((r, index) => ({ ...r, index }))).pipe(runTask(model, task, options as never), toArray()), { defaultValue: [] });
  return rows.map((r) => r.result as R);
}

/** Sentence embeddings (mean-pooled and L2-normalised unless the model or options say otherwise). */
export async function embed(model: ModelRef, texts: string[], options: EmbedOptions & BatchingOptions = {}): Promise<Float32Array[]> {
  return (await all<{ embedding: Float32Array }>(model, 'embed', texts.map((text) => ({ text })), options)).map((r) => r.embedding);
}

export function classify(model: ModelRef, texts: string[], options: ClassifyOptions & BatchingOptions = {}) {
  return all<{ label: string; score: number; labels: { label: string; score: number }[] }>(model, 'classify', texts.map((text) => ({ text })), options);
}

export async function extractEntities(model: ModelRef, texts: string[], options: EncodeOptions & BatchingOptions = {}): Promise<Entity[][]> {
  return (await all<{ entities: Entity[] }>(model, 'ner', texts.map((text) => ({ text })), options)).map((r) => r.entities);
}

export async function answer(model: ModelRef, question: string, context: string, options: QaOptions = {}): Promise<Answer | { answer: null; score: 0 }> {
  return (await all<Answer>(model, 'qa', [{ text: question, pair: context }], options))[0];
}

export async function fillMask(model: ModelRef, texts: string[], options: FillMaskOptions & BatchingOptions = {}): Promise<FillMaskPrediction[][][]> {
  return (await all<{ masks: FillMaskPrediction[][] }>(model, 'fill-mask', texts.map((text) => ({ text })), options)).map((r) => r.masks);
}

export function generate(model: ModelRef, prompts: string[], options: GenerationOptions & BatchingOptions = {}): Promise<GenerationResult[]> {
  return all<GenerationResult>(model, 'generate', prompts.map((text) => ({ text })), options);
}

export function translate(model: ModelRef, texts: string[], options: GenerationOptions & BatchingOptions = {}): Promise<GenerationResult[]> {
  return all<GenerationResult>(model, 'translate', texts.map((text) => ({ text })), options);
}

export function summarize(model: ModelRef, texts: string[], options: GenerationOptions & BatchingOptions = {}): Promise<GenerationResult[]> {
  return all<GenerationResult>(model, 'summarize', texts.map((text) => ({ text })), options);
}
