// One onnxruntime measurement of one .onnx file in its own process (thread pools are per process): prints {ms, out}.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inputs, RUNS } from './minilm.js';
import { timeIt } from './common.js';

const [kind, file, batch, length, threads] = process.argv.slice(2);
const shape = { batch: Number(batch), length: Number(length) };
const x = inputs(shape, 1000);
const big = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
const dims = [shape.batch, shape.length];

let run: () => Promise<Float32Array>;
if (kind === 'node') {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const feeds = { input_ids: new ort.Tensor('int64', big(x.inputIds), dims), attention_mask: new ort.Tensor('int64', big(x.attentionMask), dims), token_type_ids: new ort.Tensor('int64', big(x.tokenTypeIds), dims) };
  run = async () => (await session.run(feeds)).last_hidden_state.data as Float32Array;
} else {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = Number(threads);
  const session = await ort.InferenceSession.create(file, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { input_ids: new ort.Tensor('int64', big(x.inputIds), dims), attention_mask: new ort.Tensor('int64', big(x.attentionMask), dims), token_type_ids: new ort.Tensor('int64', big(x.tokenTypeIds), dims) };
  run = async () => (await session.run(feeds)).last_hidden_state.data as Float32Array;
}
let out: Float32Array = new Float32Array();
const ms = await timeIt(async () => (out = await run()), { warmup: 2, runs: shape.batch > 1 ? RUNS.throughput : RUNS.latency });
// The output goes through a file: megabytes on stdout can be cut short by process.exit.
const outFile = join(tmpdir(), `attnflow-bench-${process.pid}.f32`);
writeFileSync(outFile, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
process.stdout.write(`${JSON.stringify({ ms, file: outFile })}\n`, () => process.exit(0));
