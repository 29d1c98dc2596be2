/** Activations a kernel can apply in its epilogue; the number is what a worker task message carries. */
export const Activation = { none: 0, gelu: 1, geluTanh: 2, silu: 3, relu: 4, tanh: 5 } as const;
export type Activation = (typeof Activation)[keyof typeof Activation];

/**
 * erf through Numerical Recipes' erfc (Chebyshev fit, fractional error < 1.2e-7 everywhere): far below
 * float32 GELU's own rounding, and one exp per element.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - erfc : erfc - 1;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function applyActivation(kind: number, x: number): number {
  switch (kind) {
    case Activation.none:
      return x;
    case Activation.gelu:
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case Activation.geluTanh:
      return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    case Activation.silu:
      return x / (1 + Math.exp(-x));
    case Activation.relu:
      return x > 0 ? x : 0;
    case Activation.tanh:
      return Math.tanh(x);
    default:
      throw new Error(`unknown activation ${kind}`);
  }
}
