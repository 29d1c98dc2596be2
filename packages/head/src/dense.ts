/** The activations sentence-transformers' Dense and CrossEncoder name by torch class path. */
export const DENSE_ACTIVATIONS = ['identity', 'tanh', 'sigmoid', 'relu', 'gelu'] as const;
export type DenseActivation = (typeof DENSE_ACTIVATIONS)[number];

/** torch's exact GELU (erf), in f64: the activation torch.nn.GELU() applies. */
function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for 1e-4 parity after a layer; use the series/continued fraction split.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 60; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
}

export const ACTIVATE: Record<DenseActivation, (x: number) => number> = {
  identity: (x) => x,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  relu: (x) => Math.max(0, x),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
};

/** A Dense module: weight (out, in) row-major, bias (out,) or none. */
export interface DenseLayer {
  inFeatures: number;
  outFeatures: number;
  weight: Float32Array;
  bias?: Float32Array;
  activation: DenseActivation;
}

/** x (rows, in) -> act(x Wᵀ + b) (rows, out), accumulated in f64. */
export function applyDense(layer: DenseLayer, x: Float32Array, rows: number): Float32Array {
  const { inFeatures: n, outFeatures: m, weight, bias } = layer;
  const act = ACTIVATE[layer.activation];
  const out = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < m; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < n; i++) s += x[r * n + i] * weight[o * n + i];
      out[r * m + o] = act(s);
    }
  return out;
}
