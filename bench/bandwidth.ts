import { Worker } from 'node:worker_threads';
import asc from 'assemblyscript/asc';

/**
 * The machine's memory bandwidth as WebAssembly sees it: threads that each sum their share of a buffer far
 * larger than the caches with 128-bit loads (read), or memory.copy it (copy: bytes read + bytes written), on one
 * shared memory, as the kernels run. Decoding a token reads every weight once, so read bandwidth ÷ weight bytes
 * is the ceiling on decode tokens/s.
 */
const SOURCE = `
export function readSum(ptr: usize, bytes: usize, reps: i32): i32 {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  const end = ptr + bytes;
  for (let r = 0; r < reps; r++) {
    for (let p = ptr; p < end; p += 64) {
      a0 = i32x4.add(a0, v128.load(p));
      a1 = i32x4.add(a1, v128.load(p, 16));
      a2 = i32x4.add(a2, v128.load(p, 32));
      a3 = i32x4.add(a3, v128.load(p, 48));
    }
  }
  const s = i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}
export function copy(dst: usize, src: usize, bytes: usize, reps: i32): void {
  for (let r = 0; r < reps; r++) memory.copy(dst, src, bytes);
}`;

const MiB = 1 << 20;
/** Read region, then copy source and destination: 8× a large last-level cache or more. */
const READ_BYTES = 256 * MiB;
const COPY_BYTES = 128 * MiB;
const PAGES = (READ_BYTES + 2 * COPY_BYTES) / 65536;

// One task a message: run the kernel on this thread's slice, answer when done.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { exports } = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory, abort() { throw new Error('abort'); } } });
parentPort.on('message', (t) => {
  const r = t.kind === 'read' ? exports.readSum(t.ptr, t.bytes, t.reps) : exports.copy(t.dst, t.ptr, t.bytes, t.reps);
  parentPort.postMessage(r ?? 0);
});`;

export interface Bandwidth {
  threads: number;
  /** Bytes/s. */
  read: number;
  /** Bytes/s of traffic (read + written). */
  copy: number;
}

async function compile(): Promise<WebAssembly.Module> {
  const compiled = await asc.compileString(SOURCE, {
    optimizeLevel: 3, runtime: 'stub', noAssert: true, enable: ['simd', 'threads', 'bulk-memory'],
    importMemory: true, sharedMemory: true, initialMemory: PAGES, maximumMemory: PAGES,
  });
  if (!compiled.binary) throw new Error(`bandwidth probe does not compile: ${compiled.stderr.toString()}`);
  return new WebAssembly.Module(new Uint8Array(compiled.binary));
}

/** Read and copy bandwidth with 1…maxThreads threads (best of several runs each). */
export async function wasmBandwidth(maxThreads: number): Promise<Bandwidth[]> {
  const module = await compile();
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES, shared: true });
  new Uint8Array(memory.buffer).fill(1); // touch every page: first touches would be timed otherwise
  const workers = Array.from({ length: maxThreads }, () => new Worker(WORKER, { eval: true, workerData: { module, memory } }));
  const run = (w: Worker, task: Record<string, number | string>) => new Promise<void>((resolve, reject) => {
    const done = () => { w.off('error', reject); resolve(); };
    w.once('message', done);
    w.once('error', reject);
    w.postMessage(task);
  });
  const timed = async (threads: number, kind: 'read' | 'copy', reps: number): Promise<number> => {
    const bytes = (kind === 'read' ? READ_BYTES : COPY_BYTES) / threads;
    const t = performance.now();
    await Promise.all(workers.slice(0, threads).map((w, i) => run(w, kind === 'read'
      ? { kind, ptr: i * bytes, bytes, reps }
      : { kind, ptr: READ_BYTES + i * bytes, dst: READ_BYTES + COPY_BYTES + i * bytes, bytes, reps })));
    return (performance.now() - t) / 1000;
  };
  const out: Bandwidth[] = [];
  try {
    for (let threads = 1; threads <= maxThreads; threads++) {
      const best = async (kind: 'read' | 'copy', reps: number, traffic: number) => {
        await timed(threads, kind, 1);
        let fastest = Infinity;
        for (let i = 0; i < 5; i++) fastest = Math.min(fastest, await timed(threads, kind, reps));
        return (traffic * reps) / fastest;
      };
      out.push({ threads, read: await best('read', 4, READ_BYTES), copy: await best('copy', 4, 2 * COPY_BYTES) });
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
