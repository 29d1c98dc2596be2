import { Engine, paddedK, WeightType } from '@attnflow/kernels';
import { EncoderModel } from '@attnflow/models';
import { table } from './common.js';
import { inputs, type Shape } from './minilm.js';

/** Bytes of weights a GEMM call reads, by kernel (and stored type for float weights). */
function weightBytes(kernel: string, a: Record<string, number>): number {
  if (kernel === 'linearQ8' || kernel === 'linearQ8Float') return a.N * (paddedK(a.K) + (4 * paddedK(a.K)) / a.group);
  if (kernel === 'linearQ4') return a.N * a.K * 0.625;
  return a.N * a.K * (a.weightType === WeightType.float32 || a.weightType === undefined ? 4 : 2);
}

/** An engine that times every kernel call, by kernel and shape. */
export class TimedEngine extends Engine {
  readonly spent = new Map<string, { ms: number; calls: number; flops: number; bytes: number }>();
  timing = false;

  override async run(...args: Parameters<Engine['run']>): Promise<void> {
    const [kernel, , attrs] = args;
    const start = performance.now();
    await super.run(...args);
    if (!this.timing) return;
    const a = attrs as Record<string, number>;
    const gemm = kernel.startsWith('linear');
    const key = gemm ? `${kernel} ${a.M}×${a.K}×${a.N}${a.activation ? ' + activation' : ''}` : kernel;
    const entry = this.spent.get(key) ?? { ms: 0, calls: 0, flops: gemm ? 2 * a.M * a.K * a.N : 0, bytes: gemm ? weightBytes(kernel, a) : 0 };
    entry.ms += performance.now() - start;
    entry.calls++;
    this.spent.set(key, entry);
  }

  /**
   * The calls timed so far as a table, per `per` (forward passes, tokens) of `total` ms each: calls, ms, share,
   * GFLOP/s, and the weights' read rate (GB/s) where that is what limits them.
   */
  report(per: number, total: number, unit: string): string {
    const rows: (string | number)[][] = [['call', `calls/${unit}`, `ms/${unit}`, 'share', 'GFLOP/s', 'weights GB/s']];
    let kernels = 0;
    for (const [key, e] of [...this.spent].sort((p, q) => q[1].ms - p[1].ms)) {
      const ms = e.ms / per;
      kernels += ms;
      rows.push([key, e.calls / per, ms, `${((100 * ms) / total).toFixed(1)}%`, e.flops ? (e.flops * e.calls) / e.ms / 1e6 : '-', e.bytes ? (e.bytes * e.calls) / e.ms / 1e6 : '-']);
    }
    rows.push(['JavaScript between calls', '-', total - kernels, `${((100 * (total - kernels)) / total).toFixed(1)}%`, '-', '-']);
    return table(rows);
  }
}

/**
 * Where a MiniLM forward pass spends its time, in float32 and in q8: each kernel call timed, the rest is JavaScript
 * between calls.
 */
export async function profileBench(dir: string): Promise<string> {
  const out: string[] = [];
  const cases: [Shape, number, 'fp32' | 'q8'][] = [
    [{ batch: 32, length: 128 }, 1, 'fp32'], [{ batch: 32, length: 128 }, 2, 'fp32'], [{ batch: 1, length: 16 }, 2, 'fp32'],
    [{ batch: 32, length: 128 }, 2, 'q8'], [{ batch: 1, length: 16 }, 2, 'q8'],
  ];
  for (const [shape, workers, dtype] of cases) {
    const engine = new TimedEngine({ workers });
    const model = EncoderModel.load(dir, engine, undefined, { dtype });
    const x = inputs(shape, model.recipe.vocabSize);
    const runs = shape.batch > 1 ? 3 : 100;
    for (let i = 0; i < 3; i++) await model.forward(x);
    engine.timing = true;
    const start = performance.now();
    for (let i = 0; i < runs; i++) await model.forward(x);
    const total = (performance.now() - start) / runs;
    model.dispose();
    await engine.close();
    out.push(`${dtype}, ${shape.batch}×${shape.length}, ${workers} worker${workers > 1 ? 's' : ''}: ${total.toFixed(1)} ms a forward pass\n\n${engine.report(runs, total, 'forward')}`);
  }
  return out.join('\n\n');
}
