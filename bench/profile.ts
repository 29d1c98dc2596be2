import { Engine } from '@attnflow/kernels';
import { EncoderModel } from '@attnflow/models';
import { table } from './common.js';
import { inputs, type Shape } from './minilm.js';

/** An engine that times every kernel call, by kernel and shape. */
class TimedEngine extends Engine {
  readonly spent = new Map<string, { ms: number; calls: number; flops: number }>();
  timing = false;

  override async run(...args: Parameters<Engine['run']>): Promise<void> {
    const [kernel, , attrs] = args;
    const start = performance.now();
    await super.run(...args);
    if (!this.timing) return;
    const a = attrs as Record<string, number>;
    const gemm = kernel === 'linear' || kernel === 'linearQ8';
    const key = gemm ? `${kernel} ${a.M}×${a.K}×${a.N}${a.activation ? ' + activation' : ''}` : kernel;
    const entry = this.spent.get(key) ?? { ms: 0, calls: 0, flops: gemm ? 2 * a.M * a.K * a.N : 0 };
    entry.ms += performance.now() - start;
    entry.calls++;
    this.spent.set(key, entry);
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
    const rows: (string | number)[][] = [['call', 'calls/forward', 'ms/forward', 'share', 'GFLOP/s']];
    let kernels = 0;
    for (const [key, e] of [...engine.spent].sort((p, q) => q[1].ms - p[1].ms)) {
      const ms = e.ms / runs;
      kernels += ms;
      rows.push([key, e.calls / runs, ms, `${((100 * ms) / total).toFixed(1)}%`, e.flops ? (e.flops * e.calls) / e.ms / 1e6 : '-']);
    }
    rows.push(['JavaScript between calls', '-', total - kernels, `${((100 * (total - kernels)) / total).toFixed(1)}%`, '-']);
    out.push(`${dtype}, ${shape.batch}×${shape.length}, ${workers} worker${workers > 1 ? 's' : ''}: ${total.toFixed(1)} ms a forward pass\n\n${table(rows)}`);
  }
  return out.join('\n\n');
}
