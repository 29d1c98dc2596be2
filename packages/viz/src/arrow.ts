import { Table, Utf8, makeVector, vectorFromArray } from 'apache-arrow';
import type { AttentionMaps } from './maps.js';

/**
 * The long form of the attention weights, one row per (layer, head, query token, key token), ready for an
 * Arrow IPC file or a DataFrame: columns layer, head, query, key, query_token, key_token, weight.
 */
export function attentionTable(m: AttentionMaps): Table {
  const q = m.queryTokens.length;
  const k = m.keyTokens.length;
  const n = m.layers * m.heads * q * k;
  const layer = new Int32Array(n), head = new Int32Array(n), query = new Int32Array(n), key = new Int32Array(n);
  const qTok = new Array<string>(n), kTok = new Array<string>(n);
  let r = 0;
  for (let l = 0; l < m.layers; l++)
    for (let h = 0; h < m.heads; h++)
      for (let i = 0; i < q; i++)
        for (let j = 0; j < k; j++, r++) {
          layer[r] = l;
          head[r] = h;
          query[r] = i;
          key[r] = j;
          qTok[r] = m.queryTokens[i];
          kTok[r] = m.keyTokens[j];
        }
  return new Table({
    layer: makeVector(layer),
    head: makeVector(head),
    query: makeVector(query),
    key: makeVector(key),
    query_token: vectorFromArray(qTok, new Utf8()),
    key_token: vectorFromArray(kTok, new Utf8()),
    weight: makeVector(Float32Array.from(m.weights)),
  });
}
