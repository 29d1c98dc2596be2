import { workerData } from 'node:worker_threads';
import { runClaimed, serve, slotView, teamView } from './channel.js';
import { runTask } from './tasks.js';
import { instantiateKernels } from './wasm.js';

/**
 * Each pool thread maps the one shared memory it was given at start-up (and instantiates the SIMD kernels over
 * it). Its one kind of Piscina task, `serve`, makes it the server of a fast-path slot (channel.ts) until the slot
 * is idle; kernel tasks then arrive through the slot and carry only offsets.
 */
const { memory, module } = workerData as { memory: WebAssembly.Memory; module: WebAssembly.Module | null };
const kernels = module ? instantiateKernels(module, memory) : undefined;

export interface PoolTask {
  serve: { control: SharedArrayBuffer; slot: number };
}

export default function run(task: PoolTask): void {
  const team = teamView(task.serve.control);
  serve(slotView(task.serve.control, task.serve.slot), (t) => runClaimed(team, t, (p) => runTask(memory.buffer, p, kernels)));
}
