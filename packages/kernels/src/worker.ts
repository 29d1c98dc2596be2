import { workerData } from 'node:worker_threads';
import { runTask, type KernelTask } from './tasks.js';
import { instantiateKernels } from './wasm.js';

/**
 * Each pool thread maps the one shared memory it was given at start-up (and instantiates the SIMD kernels over
 * it); tasks carry only offsets.
 */
const { memory, module } = workerData as { memory: WebAssembly.Memory; module: WebAssembly.Module | null };
const kernels = module ? instantiateKernels(module, memory) : undefined;

export default function run(task: KernelTask): number {
  runTask(memory.buffer, task, kernels);
  return task.end - task.start;
}
