import { workerData } from 'node:worker_threads';
import { runTask, type KernelTask } from './tasks.js';

/** Each pool thread maps the one shared memory it was given at start-up; tasks carry only offsets. */
const memory = (workerData as { memory: WebAssembly.Memory }).memory;

export default function run(task: KernelTask): number {
  runTask(memory.buffer, task);
  return task.end - task.start;
}
