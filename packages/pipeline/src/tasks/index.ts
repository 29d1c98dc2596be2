import { classifyTask, embedTask, fillMaskTask, nerTask, qaTask } from './encoderTasks.js';
import { generateTask, text2textTask } from './generationTasks.js';
import { attentionTask } from './attentionTask.js';
import type { Task } from './task.js';

export * from './task.js';
export * from './encoderTasks.js';
export * from './generationTasks.js';
export * from './attentionTask.js';

/** Every task by the name pipeline files and the CLI use. */
export const TASKS = {
  embed: embedTask,
  classify: classifyTask,
  ner: nerTask,
  qa: qaTask,
  'fill-mask': fillMaskTask,
  generate: generateTask,
  translate: text2textTask,
  summarize: text2textTask,
  attention: attentionTask,
} satisfies Record<string, Task<any, any>>;

export type TaskName = keyof typeof TASKS;
export const TASK_NAMES = Object.keys(TASKS) as TaskName[];
