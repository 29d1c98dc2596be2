import type { LoadedModel } from '@attnflow/models';
import { attentionTask } from './attentionTask.js';
import { classifyTask, embedTask, fillMaskTask, nerTask, qaTask, rerankTask, zeroShotTask } from './encoderTasks.js';
import { generateTask, summarizeTask, translateTask } from './generationTasks.js';
import type { TaskName, TaskOptions } from './options.js';
import { requireKind, type Task, type TaskOutput, type TextRecord } from './task.js';

export * from './options.js';
export * from './task.js';
export * from './encoderTasks.js';
export * from './generationTasks.js';
export * from './attentionTask.js';

/** What each task returns per record. */
export interface TaskResults {
  embed: Awaited<ReturnType<typeof embedTask.run>>['results'][number];
  classify: Awaited<ReturnType<typeof classifyTask.run>>['results'][number];
  rerank: Awaited<ReturnType<typeof rerankTask.run>>['results'][number];
  'zero-shot': Awaited<ReturnType<typeof zeroShotTask.run>>['results'][number];
  ner: Awaited<ReturnType<typeof nerTask.run>>['results'][number];
  qa: Awaited<ReturnType<typeof qaTask.run>>['results'][number];
  'fill-mask': Awaited<ReturnType<typeof fillMaskTask.run>>['results'][number];
  generate: Awaited<ReturnType<typeof generateTask.run>>['results'][number];
  translate: Awaited<ReturnType<typeof translateTask.run>>['results'][number];
  summarize: Awaited<ReturnType<typeof summarizeTask.run>>['results'][number];
  attention: Awaited<ReturnType<typeof attentionTask.run>>['results'][number];
}

/** Every task by the name pipeline files and the CLI use. */
export const TASKS: { [N in TaskName]: Task<N, TaskResults[N]> } = {
  embed: embedTask,
  classify: classifyTask,
  rerank: rerankTask,
  'zero-shot': zeroShotTask,
  ner: nerTask,
  qa: qaTask,
  'fill-mask': fillMaskTask,
  generate: generateTask,
  translate: translateTask,
  summarize: summarizeTask,
  attention: attentionTask,
};

/**
 * Checks, once and before any record is read, that the model can do the task with these options: the right
 * kind of model, and options that fit it (a generation length that leaves room for a prompt, …).
 */
export function checkTask<N extends TaskName>(model: LoadedModel, name: N, options: TaskOptions<N>): void {
  const task: Task<N, TaskResults[N]> = TASKS[name];
  requireKind(model, name, task.kinds);
  task.check?.(model, options);
}

/** One batch of records through a task, with that task's own options type. */
export function runTaskBatch<N extends TaskName>(model: LoadedModel, name: N, records: TextRecord[], options: TaskOptions<N>): Promise<TaskOutput<TaskResults[N]>> {
  const task: Task<N, TaskResults[N]> = TASKS[name];
  return task.run(model, records, options);
}
