import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { sharedArena, Tensor, type SharedArena, type TensorRef } from '@attnflow/tensor';
import { instantiateKernels, kernelsModule, type KernelsVariant, type WasmKernels } from './wasm.js';
import { KERNELS, runTask, type Attrs, type KernelAttrs, type KernelName, type KernelSpec, type KernelTask } from './tasks.js';

export interface EngineOptions {
  arena?: SharedArena;
  /** Worker threads; 0 runs every kernel on the calling thread. Default: the number of cores. */
  workers?: number;
  /**
   * Work below this many floating-point operations runs on the calling thread: posting a task costs about a
   * tenth of a millisecond, which a small matmul does not repay. 0 sends everything to the pool (tests use this).
   */
  minPoolFlops?: number;
  /** 'wasm' (default where WebAssembly SIMD validates): the SIMD kernels; 'js': the TypeScript kernels. */
  backend?: 'wasm' | 'js';
}

export interface EngineStats {
  tasks: number;
  inline: number;
  retries: number;
}

export type TensorArg = Tensor | TensorRef | undefined;

/**
 * Runs kernels on the shared tensors, split across a Piscina pool whose workers map the arena's memory.
 * Results land in the output tensors; nothing is copied or transferred.
 */
export class Engine {
  readonly arena: SharedArena;
  readonly workers: number;
  readonly minPoolFlops: number;
  readonly stats: EngineStats = { tasks: 0, inline: 0, retries: 0 };
  readonly backend: 'wasm' | 'js';
  /** Which WebAssembly build runs (relaxed-simd uses fused multiply-add), when backend is wasm. */
  readonly variant?: KernelsVariant;
  private pool?: Piscina;
  private readonly kernels?: WasmKernels;

  constructor(options: EngineOptions = {}) {
    this.arena = options.arena ?? sharedArena();
    this.workers = options.workers ?? availableParallelism();
    if (!Number.isInteger(this.workers) || this.workers < 0 || this.workers > 256) {
      throw new RangeError(`workers must be an integer from 0 to 256, got ${options.workers}`);
    }
    const compiled = options.backend === 'js' ? null : kernelsModule();
    if (options.backend === 'wasm' && !compiled) throw new Error('the WebAssembly SIMD kernels are not available here (dist/kernels.wasm missing or SIMD unsupported)');
    this.backend = compiled ? 'wasm' : 'js';
    this.variant = compiled?.variant;
    // Break-even of a pool dispatch (~0.1 ms round trip) against computing inline: about 4 MFLOP for the SIMD
    // kernels (~30 GFLOP/s a thread), 0.5 MFLOP for the TypeScript ones (~3 GFLOP/s). Measured by npm run bench.
    this.minPoolFlops = options.minPoolFlops ?? (this.backend === 'wasm' ? 4_000_000 : 500_000);
    const module = compiled?.module ?? null;
    if (module) this.kernels = instantiateKernels(module, this.arena.memory);
    if (this.workers > 0) {
      this.pool = new Piscina({
        filename: new URL('./worker.js', import.meta.url).href,
        workerData: { memory: this.arena.memory, module },
        minThreads: this.workers,
        maxThreads: this.workers,
        idleTimeout: 60_000,
        recordTiming: false,
      });
    }
  }

  async run<K extends KernelName>(kernel: K, tensors: Record<string, TensorArg>, kernelAttrs: KernelAttrs<K>): Promise<void> {
    const spec = KERNELS[kernel] as unknown as KernelSpec<Attrs>;
    const attrs = kernelAttrs as unknown as Attrs;
    const units = spec.units(attrs);
    const refs: Record<string, TensorRef | undefined> = {};
    for (const [name, t] of Object.entries(tensors)) refs[name] = t && ('ref' in t ? t.ref : t);
    // Scratch the SIMD kernel needs is lent from the arena for this call only.
    const scratch = this.backend === 'wasm' && spec.wasm && spec.scratch ? Tensor.empty('float32', [spec.scratch(attrs)], this.arena) : undefined;
    if (scratch) refs.scratch = scratch.ref;
    try {
      const chunks = Math.min(this.workers, units);
      if (!this.pool || chunks === 0 || units * spec.flopsPerUnit(attrs) < this.minPoolFlops) {
        this.stats.inline++;
        runTask(this.arena.buffer, { kernel, tensors: refs, attrs, start: 0, end: units }, this.kernels);
        return;
      }
      const jobs: Promise<unknown>[] = [];
      for (let c = 0; c < chunks; c++) {
        const start = Math.floor((c * units) / chunks);
        const end = Math.floor(((c + 1) * units) / chunks);
        jobs.push(this.dispatch({ kernel, tensors: refs, attrs, start, end }));
      }
      await Promise.all(jobs);
    } finally {
      scratch?.dispose();
    }
  }

  /** A task whose worker died is retried once on a fresh worker (Piscina replaces dead threads). */
  private async dispatch(task: KernelTask): Promise<unknown> {
    this.stats.tasks++;
    try {
      return await this.pool!.run(task);
    } catch (e) {
      if (!isWorkerDeath(e)) throw e;
      this.stats.retries++;
      return await this.pool!.run(task);
    }
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}

function isWorkerDeath(e: unknown): boolean {
  return e instanceof Error && /worker.*(exit|terminat)/i.test(e.message);
}

let defaultEngine: Engine | undefined;

/** The process-wide engine over the process-wide arena. */
export function sharedEngine(): Engine {
  defaultEngine ??= new Engine();
  return defaultEngine;
}

export async function closeSharedEngine(): Promise<void> {
  await defaultEngine?.close();
  defaultEngine = undefined;
}
