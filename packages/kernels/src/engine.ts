import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { sharedArena, Tensor, type SharedArena, type TensorRef } from '@attnflow/tensor';
import { instantiateKernels, kernelsModule, type KernelsVariant, type WasmKernels } from './wasm.js';
import { KERNELS, runTask, type Attrs, type KernelAttrs, type KernelName, type KernelSpec, type KernelTask } from './tasks.js';
import { encodeTask, SLOT_BYTES, slotView, State, type SlotView } from './channel.js';

export interface EngineOptions {
  arena?: SharedArena;
  /** Worker threads; 0 runs every kernel on the calling thread. Default: the number of cores. */
  workers?: number;
  /**
   * Work below this many floating-point operations runs on the calling thread: handing a task to a pool thread
   * costs tens of microseconds, which a small matmul does not repay. 0 sends everything to the pool (tests).
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
  /** One fast-path slot per pool thread (see channel.ts); `serving` settles when that thread stops or dies. */
  private slots: { view: SlotView; serving?: Promise<unknown> }[] = [];
  private control?: SharedArrayBuffer;
  /** Serve loops stop after this long without work, so an idle engine keeps neither threads busy nor the process alive. */
  private idleTimer?: NodeJS.Timeout;
  private stopping?: Promise<unknown>;
  /** Pooled calls take the slots one call at a time. */
  private queue: Promise<void> = Promise.resolve();

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
    // Break-even of a fast-path dispatch (~45 µs round trip here) against computing inline: about 2 MFLOP for
    // the SIMD kernels (~25 GFLOP/s a thread), 0.25 MFLOP for the TypeScript ones (~3 GFLOP/s). See npm run bench.
    this.minPoolFlops = options.minPoolFlops ?? (this.backend === 'wasm' ? 2_000_000 : 250_000);
    const module = compiled?.module ?? null;
    if (module) this.kernels = instantiateKernels(module, this.arena.memory);
    if (this.workers > 0) {
      this.pool = new Piscina({
        filename: new URL('./worker.js', import.meta.url).href,
        workerData: { memory: this.arena.memory, module },
        minThreads: this.workers,
        maxThreads: this.workers,
        idleTimeout: Infinity,
        recordTiming: false,
      });
      this.control = new SharedArrayBuffer(SLOT_BYTES * this.workers);
      for (let i = 0; i < this.workers; i++) this.slots.push({ view: slotView(this.control, i) });
    }
  }

  /** Starts the serve loop of slot i on a pool thread (again, after a thread died). */
  private serve(i: number): Promise<unknown> {
    Atomics.store(this.slots[i].view.state, 0, State.idle);
    const serving = this.pool!.run({ serve: { control: this.control!, slot: i } });
    serving.catch(() => {}); // a death is handled where a task waits on the slot
    return serving;
  }

  private async ensureServing(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    await this.stopping;
    this.slots.forEach((s, i) => (s.serving ??= this.serve(i)));
  }

  private stopServing(): Promise<unknown> {
    for (const slot of this.slots) {
      if (!slot.serving) continue;
      Atomics.store(slot.view.state, 0, State.stop);
      Atomics.notify(slot.view.state, 0);
    }
    const done = Promise.allSettled(this.slots.map((s) => s.serving));
    for (const slot of this.slots) slot.serving = undefined;
    this.stopping = done.then(() => (this.stopping = undefined));
    return done;
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
      const previous = this.queue;
      let release!: () => void;
      this.queue = new Promise((r) => (release = r));
      await previous;
      await this.ensureServing();
      try {
        const range = (c: number) => ({ start: Math.floor((c * units) / chunks), end: Math.floor(((c + 1) * units) / chunks) });
        if (units * spec.flopsPerUnit(attrs) < SHORT_FLOPS && this.kernels && this.minPoolFlops > 0) {
          // A short call: this thread computes the first share itself and waits for the others without going
          // back to the event loop, which saves a wake-up on each side.
          for (let c = 1; c < chunks; c++) this.post(c, { kernel, tensors: refs, attrs, ...range(c) });
          runTask(this.arena.buffer, { kernel, tensors: refs, attrs, ...range(0) }, this.kernels);
          for (let c = 1; c < chunks; c++) await this.dispatch(c, { kernel, tensors: refs, attrs, ...range(c) }, false, true);
        } else {
          await Promise.all(Array.from({ length: chunks }, (_, c) => this.dispatch(c, { kernel, tensors: refs, attrs, ...range(c) })));
        }
      } finally {
        release();
        if (this.idleTimer) clearTimeout(this.idleTimer);
        this.idleTimer = setTimeout(() => void this.stopServing(), 50);
        this.idleTimer.unref();
      }
    } finally {
      scratch?.dispose();
    }
  }

  private post(i: number, task: KernelTask): void {
    this.stats.tasks++;
    const { state, payload } = this.slots[i].view;
    encodeTask(task, payload);
    Atomics.store(state, 0, State.posted);
    Atomics.notify(state, 0);
  }

  /**
   * Runs a task on slot i (already posted when `posted`); a task whose thread died is retried once on its
   * replacement. A short task is awaited briefly without leaving this thread.
   */
  private async dispatch(i: number, task: KernelTask, retried = false, posted = false): Promise<void> {
    if (!posted) this.post(i, task);
    const slot = this.slots[i];
    const { state } = slot.view;
    if (posted) Atomics.wait(state, 0, State.posted, 2);
    const wait = Atomics.waitAsync(state, 0, State.posted);
    if (wait.async) {
      const died = slot.serving!.then(() => 'stopped', () => 'died');
      const outcome = await Promise.race([wait.value, died]);
      if (outcome === 'died' || outcome === 'stopped') {
        if (retried || !this.pool) throw new Error(`compute worker ${i} ${outcome} while running ${task.kernel}`);
        this.stats.retries++;
        slot.serving = this.serve(i);
        return this.dispatch(i, task, true);
      }
    }
    const result = Atomics.load(state, 0);
    if (result === State.failed) {
      const message = new TextDecoder().decode(slot.view.bytes.slice(0, Atomics.load(state, 2)));
      Atomics.store(state, 0, State.idle);
      throw new Error(`${task.kernel}: ${message}`);
    }
    Atomics.store(state, 0, State.idle);
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.stopServing();
    this.slots = [];
    await this.pool?.destroy();
    this.pool = undefined;
  }
}

/** Calls below this many FLOP (well under a millisecond) are short: see Engine.run. */
const SHORT_FLOPS = 20_000_000;

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
