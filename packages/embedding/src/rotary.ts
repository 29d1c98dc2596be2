import type { Scope, Tensor } from '@attnflow/tensor';

/**
 * Rotary position embeddings (RoPE) as Hugging Face's modeling_rope_utils computes them: inverse frequencies
 * inv_freq[i] = 1 / θ^(2i/d) for the rotary dim d, rescaled by the RoPE kind, and a table of cos/sin of
 * position·inv_freq per token (times the kind's attention factor). The kernel `rope` applies the table to q and k.
 */
export type RopeScaling =
  | { kind: 'default' }
  /** Positions divided by `factor` (kaiokendev), i.e. every frequency. */
  | { kind: 'linear'; factor: number }
  /** NTK-aware: θ grows with the sequence once it passes maxPositions, recomputed per call. */
  | { kind: 'dynamic'; factor: number; maxPositions: number }
  /** Llama 3.x: long wavelengths divided by factor, short ones kept, a smooth blend between. */
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /** YaRN: a ramp between interpolated and extrapolated frequencies, and a cos/sin scale. */
  | {
    kind: 'yarn'; factor: number; originalMaxPositions: number; betaFast: number; betaSlow: number; truncate: boolean;
    attentionFactor?: number; mscale?: number; mscaleAllDim?: number;
  };

export type RopeKind = RopeScaling['kind'];
export const ROPE_KINDS: readonly RopeKind[] = ['default', 'linear', 'dynamic', 'llama3', 'yarn'];

export interface RotaryRecipe {
  theta: number;
  /** Rotated dims per head: int(headDim · partial_rotary_factor), even. */
  rotaryDim: number;
  scaling: RopeScaling;
}

/** inv_freq (d/2,) in float32 as Hugging Face computes it, and the factor cos/sin are multiplied by. */
export function inverseFrequencies(r: RotaryRecipe, seqLen = 0): { invFreq: Float32Array; attentionScaling: number } {
  const d = r.rotaryDim;
  const s = r.scaling;
  const theta = s.kind === 'dynamic'
    ? r.theta * ((s.factor * Math.max(seqLen, s.maxPositions)) / s.maxPositions - (s.factor - 1)) ** (d / (d - 2))
    : r.theta;
  const base = Float32Array.from({ length: d / 2 }, (_, i) => Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / d))));
  switch (s.kind) {
    case 'default':
    case 'dynamic':
      return { invFreq: base, attentionScaling: 1 };
    case 'linear':
      return { invFreq: base.map((f) => f / s.factor), attentionScaling: 1 };
    case 'llama3': {
      const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
      const highWavelen = s.originalMaxPositions / s.highFreqFactor;
      const invFreq = base.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highWavelen) return f;
        if (wavelen > lowWavelen) return f / s.factor;
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        return (1 - smooth) * (f / s.factor) + smooth * f;
      });
      return { invFreq, attentionScaling: 1 };
    }
    case 'yarn': {
      const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
      const attentionScaling = s.attentionFactor
        ?? (s.mscale && s.mscaleAllDim ? mscale(s.factor, s.mscale) / mscale(s.factor, s.mscaleAllDim) : mscale(s.factor));
      // the dims whose wavelength fits betaFast..betaSlow rotations in the original context are blended
      const correctionDim = (rotations: number) => (d * Math.log(s.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(r.theta));
      let low = correctionDim(s.betaFast), high = correctionDim(s.betaSlow);
      if (s.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
      low = Math.max(low, 0);
      high = Math.min(high, d - 1);
      if (low === high) high += 0.001;
      const invFreq = base.map((f, i) => {
        const extrapolation = 1 - Math.min(1, Math.max(0, (i - low) / (high - low)));
        return (f / s.factor) * (1 - extrapolation) + f * extrapolation;
      });
      return { invFreq, attentionScaling };
    }
  }
}

/**
 * cos/sin (n, d/2) for the positions (n,) of one call: float32 angle position·inv_freq, as the reference's
 * float32 matmul. Dynamic RoPE takes its frequencies from the longest sequence of the call (max position + 1).
 */
export function rotaryTable(scope: Scope, r: RotaryRecipe, positions: Int32Array): { cos: Tensor<'float32'>; sin: Tensor<'float32'> } {
  let longest = 0;
  for (const p of positions) longest = Math.max(longest, p + 1);
  const { invFreq, attentionScaling } = inverseFrequencies(r, longest);
  const half = invFreq.length;
  const cos = scope.f32([positions.length, half]);
  const sin = scope.f32([positions.length, half]);
  const c = cos.data, s = sin.data;
  for (let t = 0; t < positions.length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(positions[t] * invFreq[i]);
      c[t * half + i] = Math.fround(Math.cos(angle)) * attentionScaling;
      s[t * half + i] = Math.fround(Math.sin(angle)) * attentionScaling;
    }
  }
  return { cos, sin };
}
