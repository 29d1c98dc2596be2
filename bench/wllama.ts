import { resolveObjectURL } from 'node:buffer';
import { mkdtempSync, openAsBlob, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';
import type { StorageBackend } from '@wllama/wllama/esm/storage/index.js';
import type { DecodeRun, Measured } from './llm.js';

/**
 * llama.cpp compiled to WebAssembly (wllama) in Node. wllama is written for browsers: a module Worker from a
 * Blob URL, `self`, `navigator`; and its default build needs JSPI and 64-bit memory, which Node 20 lacks, so it
 * runs its compatibility build (@wllama/wllama-compat: 32-bit memory, Asyncify), as Safari does. The shims below
 * give it a browser Worker over worker_threads; the Emscripten code inside sees Node and starts its pthreads as
 * Node workers from a file, which is why the module code is written to a temporary file first.
 * WLLAMA_DEBUG=1 shows wllama's and llama.cpp's own log.
 */
const require = createRequire(import.meta.url);
const compatDir = join(dirname(require.resolve('@wllama/wllama-compat/package.json')), 'wasm');
const wasmDefault = join(dirname(require.resolve('@wllama/wllama')), 'wasm', 'wllama.wasm');

// A browser worker's globals over worker_threads: postMessage/onmessage, `self`.
const PRELUDE = `
const { parentPort } = require('node:worker_threads');
globalThis.self = globalThis;
// no WebGPU here: llama.cpp's WebGPU backend asks for an adapter, gets none, and leaves the CPU backend alone
globalThis.navigator ??= { hardwareConcurrency: require('node:os').cpus().length, userAgent: 'Node.js', gpu: { requestAdapter: async () => null } };
globalThis.postMessage = (data, transfer) => parentPort.postMessage(data, transfer);
parentPort.on('message', (data) => globalThis.onmessage?.({ data }));
`;

interface Task { verb?: string; args?: unknown[] }

/** The part of the browser Worker API wllama uses, over a Node worker thread. */
class BrowserWorker {
  onmessage?: (e: { data: unknown }) => void;
  onerror?: (e: unknown) => void;
  private queue: Promise<NodeWorker>;

  constructor(url: string | URL, private readonly scratch: string) {
    this.queue = (async () => {
      const code = await resolveObjectURL(String(url))!.text();
      const worker = new NodeWorker(PRELUDE + code, { eval: true });
      worker.on('message', (data) => this.onmessage?.({ data }));
      worker.on('error', (e) => this.onerror?.(e));
      return worker;
    })();
  }

  postMessage(data: Task): void {
    this.queue = this.queue.then(async (worker) => {
      // module.init carries the Emscripten code as a Blob for its pthreads: Node starts workers from files
      if (data.verb === 'module.init' && data.args?.[0] instanceof Blob) {
        const file = join(this.scratch, 'wllama-module.cjs');
        writeFileSync(file, await data.args[0].text());
        data = { ...data, args: [file, ...data.args.slice(1)] };
      }
      worker.postMessage(data);
      return worker;
    });
  }

  terminate(): void {
    void this.queue.then((w) => w.terminate());
  }
}

let scratch: string | undefined;

function installShims(): void {
  if (scratch) return;
  scratch = mkdtempSync(join(tmpdir(), 'attnflow-wllama-'));
  const dir = scratch;
  Object.assign(globalThis, {
    self: Object.assign(globalThis, { location: { href: pathToFileURL(`${dir}/`).href } }),
    Worker: class extends BrowserWorker { constructor(url: string | URL) { super(url, dir); } },
  });
  if (!('navigator' in globalThis)) Object.assign(globalThis, { navigator: { hardwareConcurrency: cpus().length, userAgent: 'Node.js' } });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

/** The bench loads a local file and downloads nothing, so wllama's model cache (browser storage) stays empty. */
const noStorage: StorageBackend = {
  isSupported: () => true,
  read: async () => null,
  write: async () => {},
  getSize: async () => -1,
  list: async () => [],
  delete: async () => {},
};

/**
 * Text the model's byte-level vocabulary (no merges) reads as one token a character. The prompt's length
 * shifts the letters, so that no prompt starts as another one did and wllama's prompt cache never skips work.
 */
const asText = (ids: readonly number[]) => ids.map((id) => String.fromCharCode(97 + ((id + ids.length) % 26))).join('');

export async function wllamaRun(file: string, threads: number, run: DecodeRun): Promise<Measured> {
  installShims();
  const { CacheManager, Wllama } = await import('@wllama/wllama');
  const wllama = new Wllama({ default: pathToFileURL(wasmDefault).href }, { cacheManager: new CacheManager([noStorage]), suppressNativeLog: !process.env.WLLAMA_DEBUG, logger: process.env.WLLAMA_DEBUG ? console : { debug() {}, log() {}, warn() {}, error: console.error } });
  wllama.setCompat({ wasm: pathToFileURL(join(compatDir, 'wllama.wasm')).href, worker: { code: readFileSync(join(compatDir, 'wllama.js'), 'utf8') } });
  const rss = process.memoryUsage().rss;
  const t0 = performance.now();
  await wllama.loadModel([await openAsBlob(file)], { n_ctx: run.contextSize, n_threads: threads, n_batch: run.prefill.length, n_gpu_layers: 0 });
  const loadS = (performance.now() - t0) / 1000;
  try {
    const complete = async (ids: readonly number[], maxTokens: number) => {
      const r = await wllama.createCompletion({ prompt: asText(ids), max_tokens: maxTokens, temperature: 0, ignore_eos: true });
      if (!r.timings) throw new Error('wllama returned no timings');
      if (r.timings.prompt_n !== ids.length) throw new Error(`wllama read ${r.timings.prompt_n} prompt tokens, expected ${ids.length}`);
      return r.timings;
    };
    const prefill = (await complete(run.prefill, 1)).prompt_per_second;
    const decode: number[] = [];
    for (const prompt of run.contexts) decode.push((await complete(prompt, run.newTokens)).predicted_per_second);
    return { loadS, rssMb: (process.memoryUsage().rss - rss) / 2 ** 20, prefill, decode };
  } finally {
    await wllama.exit();
  }
}
