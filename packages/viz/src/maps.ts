/**
 * Attention weights of one text as data: weights[layer][head][query][key], softmax probabilities (each row sums
 * to 1). Self-attention has the same tokens on both axes; cross-attention has target (query) × source (key).
 */
export interface AttentionMaps {
  kind: 'self' | 'causal' | 'cross';
  queryTokens: string[];
  keyTokens: string[];
  layers: number;
  heads: number;
  /** (layers, heads, queries, keys) row-major. */
  weights: Float32Array;
}

export class VizError extends Error {
  override name = 'VizError';
}

/** Stacks per-layer probabilities (batch, heads, q, k), taking batch row `row` and its first q × k entries. */
export function mapsFromLayers(
  layers: Float32Array[], heads: number, paddedQ: number, paddedK: number, row: number,
  queryTokens: string[], keyTokens: string[], kind: AttentionMaps['kind'],
): AttentionMaps {
  const q = queryTokens.length;
  const k = keyTokens.length;
  const weights = new Float32Array(layers.length * heads * q * k);
  layers.forEach((probs, l) => {
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < q; i++) {
        const src = ((row * heads + h) * paddedQ + i) * paddedK;
        weights.set(probs.subarray(src, src + k), ((l * heads + h) * q + i) * k);
      }
  });
  return { kind, queryTokens, keyTokens, layers: layers.length, heads, weights };
}

/** The (queries × keys) matrix of one layer and head. */
export function headMatrix(m: AttentionMaps, layer: number, head: number): Float32Array {
  checkLayerHead(m, layer, head);
  const size = m.queryTokens.length * m.keyTokens.length;
  const at = (layer * m.heads + head) * size;
  return m.weights.subarray(at, at + size);
}

export function checkLayerHead(m: AttentionMaps, layer: number, head: number): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= m.layers) throw new VizError(`layer ${layer} is out of range: this model has layers 0 to ${m.layers - 1}`);
  if (!Number.isInteger(head) || head < 0 || head >= m.heads) throw new VizError(`head ${head} is out of range: this model has heads 0 to ${m.heads - 1}`);
}
