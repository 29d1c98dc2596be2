import { workerData } from 'node:worker_threads';
import { runClaimed, serve, slotView, teamView } from './channel.js';
import { runTask, type KernelTask } from './tasks.js';
import { instantiateKernels } from './wasm.js';

/**
 * Each pool thread maps the one shared memory it was given at start-up (and instantiates the SIMD kernels over
 * it); tasks carry only offsets. A `serve` task makes the thread the server of a fast-path slot (channel.ts).
 */
const { memory, module } = workerData as { memory: WebAssembly.Memory; module: WebAssembly.Module | null };
const kernels = module ? instantiateKernels(module, memory) : undefined;

export type PoolTask = KernelTask | { serve: { control: SharedArrayBuffer; slot: number } };

export default function run(task: PoolTask): number {
  if ('serve' in task) {
    const team = teamView(task.serve.control);
    serve(slotView(task.serve.control, task.serve.slot), (t) => runClaimed(team, t, (p) => runTask(memory.buffer, p, kernels)));
    return 0;
  }
  runTask(memory.buffer, task, kernels);
  return task.end - task.start;
}
