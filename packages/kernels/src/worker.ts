import { workerData } from 'node:worker_threads';
import { channelTables, runClaimed, serve, slotView, teamView } from './channel.js';
import { BUILTIN_KERNELS, runTask, type KernelRegistry } from './tasks.js';
import { instantiateKernels } from './wasm.js';

/** What an engine gives each pool thread once, at start-up. */
export interface WorkerData {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module | null;
  /** URL of a module exporting `kernels`, the engine's extra kernels (EngineOptions.extensions). */
  extensions?: string;
}

/**
 * Each pool thread maps the one shared memory it was given at start-up (and instantiates the SIMD kernels over
 * it). Its one kind of Piscina task, `serve`, makes it the server of a fast-path slot (channel.ts) until the slot
 * is idle; kernel tasks then arrive through the slot and carry only offsets.
 */
const { memory, module, extensions } = workerData as WorkerData;
const kernels = module ? instantiateKernels(module, memory) : undefined;
const extra = extensions ? ((await import(extensions)) as { kernels: KernelRegistry }).kernels : {};
const registry: KernelRegistry = { ...BUILTIN_KERNELS, ...extra };
const tables = channelTables(registry);

export interface PoolTask {
  serve: { control: SharedArrayBuffer; slot: number };
}

export default function run(task: PoolTask): void {
  const team = teamView(task.serve.control);
  serve(tables, slotView(task.serve.control, task.serve.slot), (t) => runClaimed(team, t, (p) => runTask(registry, memory.buffer, p, kernels)));
}
