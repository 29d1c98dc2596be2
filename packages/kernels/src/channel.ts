import { DTYPES, type TensorRef } from '@attnflow/tensor';
import type { Attrs, KernelRegistry, KernelTask } from './tasks.js';

/**
 * The fast path to a pool thread: a slot of shared memory per thread, a task written into it as numbers, and
 * Atomics to hand it over and to say it is done — microseconds, where a message through Piscina's queue costs
 * ~0.1 ms, which decides the latency of short texts (a forward pass is ~40 kernel calls). Piscina still owns
 * the threads (start, crash, replacement): each runs one long task, `serve`, that waits on its slot.
 *
 * Hand-over by sequence numbers that only grow: the caller writes the payload, then `posted` = n; the thread
 * runs it, then writes `done` = n. Neither side ever resets a word, so no state can be mistaken for an older
 * one, and whichever thread serves a slot (a replacement after a crash, a restart after an idle exit) finds a
 * task still owed exactly when posted > done.
 *
 * A call's work is cut into pieces that the threads of the team (the caller and the pool threads it posted to)
 * claim one at a time from a shared counter, so a thread that is slower today (a busy core, a cold cache) simply
 * takes fewer. Each unit is computed the same whichever thread takes it: the bits do not depend on the split.
 */
const MAX_PIECES = 1024;
const TEAM_BYTES = 64 + 4 * MAX_PIECES;
const POSTED = 0;
const DONE = 1;
const FAILED = 2;
const MESSAGE_LENGTH = 3;
const HEADER_BYTES = 16;
const SLOT_BYTES = 4096;

export const controlBytes = (threads: number) => TEAM_BYTES + threads * SLOT_BYTES;

/** The team's next piece to claim, and a flag per piece set when it is done. */
export interface TeamView {
  next: Int32Array;
  done: Int32Array;
}

export const teamView = (control: SharedArrayBuffer): TeamView => ({ next: new Int32Array(control, 0, 1), done: new Int32Array(control, 64, MAX_PIECES) });

/** How many pieces a call of `units` units is cut into for `threads` threads (several each, to even out speed). */
export const piecesFor = (units: number, threads: number) => Math.min(units, 8 * threads, MAX_PIECES);

/** Piece c of a task's unit range. */
export function piece(task: KernelTask, c: number): KernelTask {
  const n = task.end - task.start, pieces = task.pieces!;
  return { ...task, start: task.start + Math.floor((c * n) / pieces), end: task.start + Math.floor(((c + 1) * n) / pieces), pieces: undefined };
}

/** Before posting a call cut into pieces: nothing claimed, nothing done. */
export function resetTeam(team: TeamView, pieces: number): void {
  team.done.fill(0, 0, pieces);
  Atomics.store(team.next, 0, 0);
}

/** Runs a task, or — when it is cut into pieces — claims and runs pieces until none are left. */
export function runClaimed(team: TeamView, task: KernelTask, run: (task: KernelTask) => void): void {
  if (!task.pieces) return run(task);
  for (let c = Atomics.add(team.next, 0, 1); c < task.pieces; c = Atomics.add(team.next, 0, 1)) {
    run(piece(task, c));
    Atomics.store(team.done, c, 1);
  }
}

export interface SlotView {
  state: Int32Array;
  payload: Float64Array;
  message: Uint8Array;
}

export function slotView(control: SharedArrayBuffer, slot: number): SlotView {
  const base = TEAM_BYTES + slot * SLOT_BYTES;
  const payloadBytes = (SLOT_BYTES - HEADER_BYTES) / 2;
  return {
    state: new Int32Array(control, base, HEADER_BYTES / 4),
    payload: new Float64Array(control, base + HEADER_BYTES, payloadBytes / 8),
    message: new Uint8Array(control, base + HEADER_BYTES + payloadBytes, payloadBytes),
  };
}

/**
 * A task travels as indices into these name tables, which both ends derive the same way from the same registry:
 * every kernel, and every tensor and attribute name some kernel declares.
 */
export interface ChannelTables {
  kernels: string[];
  tensors: string[];
  attrs: string[];
}

export function channelTables(registry: KernelRegistry): ChannelTables {
  const specs = Object.values(registry);
  const names = (f: (s: (typeof specs)[number]) => readonly string[]) => [...new Set(specs.flatMap(f))].sort();
  return { kernels: Object.keys(registry).sort(), tensors: names((s) => s.tensors), attrs: names((s) => s.attrs) };
}

function encodeTask(tables: ChannelTables, task: KernelTask, p: Float64Array): void {
  let at = 0;
  const kernel = tables.kernels.indexOf(task.kernel);
  if (kernel < 0) throw new Error(`unknown kernel "${task.kernel}"`);
  p[at++] = kernel;
  p[at++] = task.start;
  p[at++] = task.end;
  p[at++] = task.pieces ?? 0;
  const tensors = Object.entries(task.tensors).filter(([, r]) => r);
  p[at++] = tensors.length;
  for (const [name, ref] of tensors) {
    const i = tables.tensors.indexOf(name);
    if (i < 0) throw new Error(`tensor "${name}" is not one that kernel ${task.kernel} declares`);
    p[at++] = i;
    p[at++] = DTYPES.indexOf(ref!.dtype);
    p[at++] = ref!.byteOffset;
    p[at++] = ref!.length;
  }
  const attrs = Object.entries(task.attrs).filter(([, v]) => v !== undefined);
  p[at++] = attrs.length;
  for (const [name, value] of attrs) {
    const i = tables.attrs.indexOf(name);
    if (i < 0) throw new Error(`attribute "${name}" is not one that kernel ${task.kernel} declares`);
    p[at++] = i;
    p[at++] = typeof value === 'boolean' ? (value ? 1 : 0) : (value as number);
  }
}

function decodeTask(tables: ChannelTables, p: Float64Array): KernelTask {
  let at = 0;
  const kernel = tables.kernels[p[at++]];
  const start = p[at++];
  const end = p[at++];
  const pieces = p[at++] || undefined;
  const tensors: Record<string, TensorRef> = {};
  for (let n = p[at++]; n > 0; n--) {
    const name = tables.tensors[p[at++]];
    tensors[name] = { dtype: DTYPES[p[at++]], byteOffset: p[at++], length: p[at++] };
  }
  const attrs: Attrs = {};
  for (let n = p[at++]; n > 0; n--) attrs[tables.attrs[p[at++]]] = p[at++];
  return { kernel, tensors, attrs, start, end, pieces };
}

/** Caller side: writes task number `seq` into the slot and wakes its thread. */
export function post(tables: ChannelTables, slot: SlotView, seq: number, task: KernelTask): void {
  encodeTask(tables, task, slot.payload);
  Atomics.store(slot.state, POSTED, seq);
  Atomics.notify(slot.state, POSTED);
}

export const doneSeq = (slot: SlotView) => Atomics.load(slot.state, DONE);

/** Caller side, once task `seq` is done: its error, if it threw. */
export function failure(slot: SlotView): string | undefined {
  if (Atomics.load(slot.state, FAILED) === 0) return undefined;
  return new TextDecoder().decode(slot.message.slice(0, Atomics.load(slot.state, MESSAGE_LENGTH)));
}

/**
 * Caller side: polls up to `ms` for task `seq` to finish — a short call's wait. Polling, not sleeping: on a
 * virtual machine a sleeping thread takes ~0.1 ms to wake, longer than a short task itself.
 */
export function waitDone(slot: SlotView, seq: number, ms: number): boolean {
  const until = performance.now() + ms;
  while (doneSeq(slot) !== seq) if (performance.now() > until) return false;
  return true;
}

/** Caller side: a promise for the next change of `done` away from `seen` (or immediately if it has moved). */
export function doneChanged(slot: SlotView, seen: number): Promise<unknown> {
  const w = Atomics.waitAsync(slot.state, DONE, seen);
  return w.async ? w.value : Promise.resolve();
}

/**
 * How long a thread keeps polling its slot after a task (the kernel calls of a forward pass come tens of
 * microseconds apart, and waking a sleeping thread costs ~0.1 ms on a virtual machine), and how long it sleeps
 * before it leaves the slot (so an idle engine holds no thread; the caller restarts the loop when it next posts).
 */
const SPIN_MS = 0.5;
const IDLE_MS = 200;

/** Thread side: runs the slot's tasks in order until it has had none for IDLE_MS. */
export function serve(tables: ChannelTables, slot: SlotView, run: (task: KernelTask) => void): void {
  const { state } = slot;
  for (;;) {
    const done = Atomics.load(state, DONE);
    let posted = Atomics.load(state, POSTED);
    if (posted === done) {
      const until = performance.now() + SPIN_MS;
      while (posted === done && performance.now() < until) posted = Atomics.load(state, POSTED);
      if (posted === done && Atomics.wait(state, POSTED, done, IDLE_MS) === 'timed-out' && Atomics.load(state, POSTED) === done) return;
      continue;
    }
    let message = '';
    try {
      run(decodeTask(tables, slot.payload));
    } catch (e) {
      message = String((e as Error)?.message ?? e);
    }
    const bytes = new TextEncoder().encode(message).subarray(0, slot.message.length);
    slot.message.set(bytes);
    Atomics.store(state, MESSAGE_LENGTH, bytes.length);
    Atomics.store(state, FAILED, message ? 1 : 0);
    Atomics.store(state, DONE, posted);
    Atomics.notify(state, DONE);
  }
}
