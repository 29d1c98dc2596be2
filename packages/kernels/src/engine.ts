import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { sharedArena, Tensor, type SharedArena, type TensorRef } from '@attnflow/tensor';
import { instantiateKernels, kernelsModule, type KernelsVariant, type WasmKernels } from './wasm.js';
import { BUILTIN_KERNELS, runTask, type Attrs, type KernelAttrs, type KernelName, type KernelRegistry, type KernelSpec, type KernelTask } from './tasks.js';
import { channelTables, controlBytes, doneChanged, doneSeq, failure, piece, piecesFor, post, resetTeam, runClaimed, slotView, teamView, waitDone, type ChannelTables, type SlotView, type TeamView } from './channel.js';
import type { PoolTask, WorkerData } from './worker.js';

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
  /**
   * More kernels, beside the built-in ones: the specs, and the module that exports them as `kernels` so each pool
   * thread can import the same (tests add a fault-injection kernel this way).
   */
  extensions?: { kernels: KernelRegistry; module: URL };
}

export interface EngineStats {
  /** Calls handed to a pool thread (a call split over two pool threads counts twice). */
  tasks: number;
  /** Calls run on the calling thread alone, being too small to split. */
  inline: number;
  /** Pool threads that died during a call; the pieces they left were run by the calling thread. */
  retries: number;
}

export type TensorArg = Tensor | TensorRef | undefined;

/**
 * Runs kernels on the shared tensors, split across a Piscina pool whose workers map the arena's memory (and,
 * for short calls, the calling thread). Results land in the output tensors; nothing is copied or transferred.
 */
export class Engine {
  readonly arena: SharedArena;
  readonly workers: number;
  readonly minPoolFlops: number;
  readonly stats: EngineStats = { tasks: 0, inline: 0, retries: 0 };
  readonly backend: 'wasm' | 'js';
  /** Which WebAssembly build runs (relaxed-simd uses fused multiply-add), when backend is wasm. */
  readonly variant?: KernelsVariant;
  private pool?: Piscina<PoolTask, void>;
  private readonly registry: KernelRegistry;
  private readonly tables: ChannelTables;
  /** Each kernel's declared tensor and attribute names, to refuse an undeclared one on every path alike. */
  private readonly declared = new Map<string, { tensors: Set<string>; attrs: Set<string> }>();
  private readonly kernels?: WasmKernels;
  /**
   * One fast-path slot per pool thread (channel.ts): `seq` numbers its tasks, `serving` is its serve loop on a
   * pool thread ('stopped' when the loop left an idle slot, 'died' when the thread crashed).
   */
  private slots: { view: SlotView; seq: number; serving?: Promise<'stopped' | 'died'>; live: boolean }[] = [];
  /** Pooled calls take the slots one call at a time. */
  private queue: Promise<void> = Promise.resolve();
  /** The slots and the team's piece counter live here (channel.ts). */
  private control?: SharedArrayBuffer;
  private team?: TeamView;

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
    // A hand-over costs ~10 µs (npm run bench): calls worth at least twice that are split, about 1 MFLOP for the
    // SIMD kernels (~40 GFLOP/s a thread), 0.1 MFLOP for the TypeScript ones (~3 GFLOP/s).
    this.minPoolFlops = options.minPoolFlops ?? (this.backend === 'wasm' ? 1_000_000 : 100_000);
    this.registry = { ...BUILTIN_KERNELS, ...options.extensions?.kernels };
    this.tables = channelTables(this.registry);
    for (const [name, spec] of Object.entries(this.registry)) this.declared.set(name, { tensors: new Set(spec.tensors), attrs: new Set(spec.attrs) });
    const module = compiled?.module ?? null;
    if (module) this.kernels = instantiateKernels(module, this.arena.memory);
    if (this.workers > 0) {
      this.pool = new Piscina({
        filename: new URL('./worker.js', import.meta.url).href,
        workerData: { memory: this.arena.memory, module, extensions: options.extensions?.module.href } satisfies WorkerData,
        minThreads: this.workers,
        maxThreads: this.workers,
        idleTimeout: 60_000,
        recordTiming: false,
      });
      const control = new SharedArrayBuffer(controlBytes(this.workers));
      this.control = control;
      this.team = teamView(control);
      for (let i = 0; i < this.workers; i++) this.slots.push({ view: slotView(control, i), seq: 0, live: false });
    }
  }

  /** Runs a built-in kernel: its attributes are checked against its own type here. */
  run<K extends KernelName>(kernel: K, tensors: Record<string, TensorArg>, attrs: KernelAttrs<K> & Attrs): Promise<void> {
    return this.runKernel(kernel, tensors, attrs);
  }

  /** Runs any kernel of this engine's registry by name, extensions included. */
  async runKernel(kernel: string, tensors: Record<string, TensorArg>, attrs: Attrs): Promise<void> {
    const spec = this.spec(kernel, tensors, attrs);
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
        runTask(this.registry, this.arena.buffer, { kernel, tensors: refs, attrs, start: 0, end: units }, this.kernels);
        return;
      }
      const previous = this.queue;
      let release!: () => void;
      this.queue = new Promise((r) => (release = r));
      await previous;
      try {
        const short = units * spec.flopsPerUnit(attrs) < SHORT_FLOPS;
        const task: KernelTask = { kernel, tensors: refs, attrs, start: 0, end: units, pieces: piecesFor(units, chunks) };
        const team = this.team!;
        const run = (t: KernelTask) => runTask(this.registry, this.arena.buffer, t, this.kernels);
        resetTeam(team, task.pieces!);
        let results: PromiseSettledResult<void>[];
        if (short) {
          // A short call: this thread is one of the team and waits for the others without going back to the
          // event loop, which saves a wake-up on each side.
          for (let c = 1; c < chunks; c++) this.post(c, task);
          const own = await settle(() => runClaimed(team, task, run));
          results = [own];
          for (let c = 1; c < chunks; c++) results.push(await settle(() => this.finish(c, kernel, SHORT_WAIT_MS)));
        } else {
          for (let c = 0; c < chunks; c++) this.post(c, task);
          // every thread is waited for, failed or not: a slot is posted to again only when its thread is done
          results = await Promise.allSettled(Array.from({ length: chunks }, (_, c) => this.finish(c, kernel)));
        }
        throwFirst(results);
        // pieces a thread took and did not finish because it died are run here
        for (let c = 0; c < task.pieces!; c++) if (Atomics.load(team.done, c) === 0) run(piece(task, c));
      } finally {
        release();
      }
    } finally {
      scratch?.dispose();
    }
  }

  /** The kernel's spec, after checking that the call names only tensors and attributes the kernel declares. */
  private spec(kernel: string, tensors: Record<string, TensorArg>, attrs: Attrs): KernelSpec<Attrs> {
    const spec = this.registry[kernel];
    const declared = this.declared.get(kernel);
    if (!spec || !declared) throw new Error(`unknown kernel "${kernel}" (this engine has: ${Object.keys(this.registry).join(', ')})`);
    for (const name in tensors) if (!declared.tensors.has(name)) throw new Error(`${kernel}: tensor "${name}" is not one it declares (${spec.tensors.join(', ')})`);
    for (const name in attrs) if (!declared.attrs.has(name)) throw new Error(`${kernel}: attribute "${name}" is not one it declares (${spec.attrs.join(', ')})`);
    return spec;
  }

  private post(i: number, task: KernelTask): void {
    const slot = this.slots[i];
    this.stats.tasks++;
    post(this.tables, slot.view, ++slot.seq, task);
    if (!slot.live) this.serve(i);
  }

  /** Starts a serve loop for slot i on a pool thread; it first runs whatever task the slot is owed. */
  private serve(i: number): void {
    const slot = this.slots[i];
    slot.live = true;
    const serving = this.pool!.run({ serve: { control: this.control!, slot: i } }).then(() => 'stopped' as const, () => 'died' as const);
    slot.serving = serving.finally(() => (slot.live = false));
  }

  /**
   * Waits for slot i's current task (polling up to `spinMs` first). A loop that left the slot before it saw the
   * task is restarted; when the thread died, its pieces are left to the caller (Piscina replaces the thread).
   */
  private async finish(i: number, kernel: string, spinMs = 0): Promise<void> {
    const slot = this.slots[i];
    if (spinMs > 0) waitDone(slot.view, slot.seq, spinMs);
    for (let done = doneSeq(slot.view); done !== slot.seq; done = doneSeq(slot.view)) {
      const outcome = await Promise.race([doneChanged(slot.view, done), slot.serving!]);
      if (outcome !== 'stopped' && outcome !== 'died') continue;
      if (doneSeq(slot.view) === slot.seq) break;
      if (outcome === 'died') {
        this.stats.retries++;
        return;
      }
      this.serve(i); // the race was won by `serving`, so the old loop has ended
    }
    const error = failure(slot.view);
    if (error !== undefined) throw new Error(`${kernel}: ${error}`);
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}

async function settle(f: () => unknown): Promise<PromiseSettledResult<void>> {
  try {
    await f();
    return { status: 'fulfilled', value: undefined };
  } catch (reason) {
    return { status: 'rejected', reason };
  }
}

function throwFirst(results: PromiseSettledResult<void>[]): void {
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Calls below this many FLOP (well under a millisecond) are short: see Engine.run. */
const SHORT_FLOPS = 20_000_000;
/** How long the calling thread blocks for a short call's other shares before it yields to the event loop. */
const SHORT_WAIT_MS = 2;

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
