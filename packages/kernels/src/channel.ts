import type { TensorRef } from '@attnflow/tensor';
import { KERNELS, type Attrs, type KernelName, type KernelTask } from './tasks.js';

/**
 * The fast path to a pool thread: one slot of shared memory per worker, a task written into it as numbers,
 * Atomics to hand it over and to say it is done. Piscina owns the threads (start, crash, replacement); each of
 * them runs one long task, `serve`, that waits on its slot. A round trip costs microseconds instead of the
 * ~0.1–0.2 ms of a message through the pool's queue, which decides latency for small batches.
 */
export const SLOT_BYTES = 4096;
const HEADER_INTS = 4; // state, unused, error length, unused
const PAYLOAD_OFFSET = 16;

export const State = { idle: 0, posted: 1, done: 2, failed: 3, stop: 4 } as const;

const KERNEL_NAMES = Object.keys(KERNELS) as KernelName[];
/** Every tensor and attribute name a kernel task uses, so a task encodes as indices and numbers. */
const TENSOR_NAMES = ['out', 'x', 'w', 'bias', 'gate', 'residual', 'weight', 'q', 'k', 'v', 'keyMask', 'positionBias', 'probs', 'scratch', 'flag'];
const ATTR_NAMES = [
  'M', 'K', 'N', 'xStride', 'outStride', 'activation', 'colStart', 'colEnd', 'rowStart', 'rowEnd', 'rows', 'dim', 'eps', 'rms', 'batch', 'numHeads', 'headDim', 'qLen', 'kLen',
  'qRowStride', 'kvRowStride', 'outRowStride', 'qBatchStride', 'kvBatchStride', 'outBatchStride', 'headStride', 'scale', 'causal', 'maskFill',
];

export interface SlotView {
  state: Int32Array;
  payload: Float64Array;
  bytes: Uint8Array;
}

export function slotView(control: SharedArrayBuffer, slot: number): SlotView {
  const base = slot * SLOT_BYTES;
  return {
    state: new Int32Array(control, base, HEADER_INTS),
    payload: new Float64Array(control, base + PAYLOAD_OFFSET, (SLOT_BYTES - PAYLOAD_OFFSET) / 8),
    bytes: new Uint8Array(control, base + PAYLOAD_OFFSET, SLOT_BYTES - PAYLOAD_OFFSET),
  };
}

/** Writes a task as numbers into a slot's payload. */
export function encodeTask(task: KernelTask, p: Float64Array): void {
  let at = 0;
  p[at++] = KERNEL_NAMES.indexOf(task.kernel);
  p[at++] = task.start;
  p[at++] = task.end;
  p[at++] = task.reference ? 1 : 0;
  const tensors = Object.entries(task.tensors).filter(([, r]) => r);
  p[at++] = tensors.length;
  for (const [name, ref] of tensors) {
    const i = TENSOR_NAMES.indexOf(name);
    if (i < 0) throw new Error(`tensor name "${name}" is not in the fast-path table (channel.ts)`);
    p[at++] = i;
    p[at++] = ref!.dtype === 'float32' ? 0 : 1;
    p[at++] = ref!.byteOffset;
    p[at++] = ref!.length;
  }
  const attrs = Object.entries(task.attrs).filter(([, v]) => v !== undefined);
  p[at++] = attrs.length;
  for (const [name, value] of attrs) {
    const i = ATTR_NAMES.indexOf(name);
    if (i < 0) throw new Error(`attribute "${name}" is not in the fast-path table (channel.ts)`);
    p[at++] = i;
    p[at++] = typeof value === 'boolean' ? (value ? 1 : 0) : (value as number);
  }
  if (p[0] < 0) throw new Error(`unknown kernel "${task.kernel}"`);
}

export function decodeTask(p: Float64Array): KernelTask {
  let at = 0;
  const kernel = KERNEL_NAMES[p[at++]];
  const start = p[at++];
  const end = p[at++];
  const reference = p[at++] === 1;
  const tensors: Record<string, TensorRef> = {};
  for (let n = p[at++]; n > 0; n--) {
    const name = TENSOR_NAMES[p[at++]];
    tensors[name] = { dtype: p[at++] === 0 ? 'float32' : 'int32', byteOffset: p[at++], length: p[at++] };
  }
  const attrs: Attrs = {};
  for (let n = p[at++]; n > 0; n--) attrs[ATTR_NAMES[p[at++]]] = p[at++];
  return { kernel, tensors, attrs, start, end, reference };
}

/** How long a thread keeps polling its slot before it sleeps: tasks of one forward pass come tens of µs apart,
 * and waking a sleeping thread costs about as much again. */
const SPIN_MS = 0.2;

/** Worker side: runs tasks from its slot until told to stop. */
export function serve(slot: SlotView, run: (task: KernelTask) => void): void {
  for (;;) {
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(slot.state, 0) === State.idle && performance.now() < until);
    Atomics.wait(slot.state, 0, State.idle);
    const s = Atomics.load(slot.state, 0);
    if (s === State.stop) return;
    if (s !== State.posted) continue;
    try {
      run(decodeTask(slot.payload));
      Atomics.store(slot.state, 0, State.done);
    } catch (e) {
      const text = new TextEncoder().encode(String((e as Error)?.message ?? e)).subarray(0, slot.bytes.length);
      slot.bytes.set(text);
      Atomics.store(slot.state, 2, text.length);
      Atomics.store(slot.state, 0, State.failed);
    }
    Atomics.notify(slot.state, 0);
  }
}
