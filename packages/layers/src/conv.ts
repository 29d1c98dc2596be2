/**
 * A 1-D convolution over the positions of each sequence (PyTorch's nn.Conv1d with 'same' padding (k − 1)/2), run
 * as one GEMM: every position's window of k rows is laid side by side (im2col), and the weight (out, in/groups, k)
 * is reordered once at load into a linear (out, k·in) whose columns follow the window, zero between groups.
 */
import type { Weights } from '@attnflow/checkpoint';
import type { Engine } from '@attnflow/kernels';
import type { Scope, Tensor } from '@attnflow/tensor';
import { linearFromRows, runLinear, type Linear, type LinearCall } from './linear.js';

export interface Conv1d {
  linear: Linear;
  channels: number;
  kernel: number;
}

/**
 * `<scope>.weight` (channels, channels/groups, kernel) and `.bias` (channels). The caller checks that the kernel is
 * odd (only then does 'same' padding keep the length) and that groups divides channels.
 */
export function loadConv1d(w: Weights, channels: number, kernel: number, groups: number): Conv1d {
  const perGroup = channels / groups;
  const stored = w.get('weight', [channels, perGroup, kernel]);
  const rows = new Float32Array(channels * kernel * channels);
  for (let o = 0; o < channels; o++) {
    const first = Math.floor(o / perGroup) * perGroup;
    for (let c = 0; c < perGroup; c++) for (let t = 0; t < kernel; t++) rows[(o * kernel + t) * channels + first + c] = stored.data[(o * perGroup + c) * kernel + t];
  }
  const linear = linearFromRows('float32', rows, kernel * channels, channels, stored.arena, w.get('bias', [channels]), w.quantize);
  stored.dispose();
  return { linear, channels, kernel };
}

/**
 * x (batch·length, channels) → (batch·length, channels); positions outside a sequence read zeros. `call` fuses an
 * activation and a residual as for a linear.
 */
export async function runConv1d(engine: Engine, scope: Scope, x: Tensor<'float32'>, conv: Conv1d, batch: number, length: number, call: LinearCall = {}): Promise<Tensor<'float32'>> {
  const { channels: C, kernel: k } = conv;
  const half = (k - 1) / 2;
  const windows = scope.f32([batch * length, k * C]);
  windows.data.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) {
      for (let t = 0; t < k; t++) {
        const j = i + t - half;
        if (j < 0 || j >= length) continue;
        windows.data.set(x.data.subarray((b * length + j) * C, (b * length + j + 1) * C), ((b * length + i) * k + t) * C);
      }
    }
  }
  return runLinear(engine, scope, windows, conv.linear, call);
}
