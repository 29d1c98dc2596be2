import { eosIdsOf, type GenerationConfig, type LoadedModel } from '@attnflow/models';
import { mapsFromLayers, type AttentionMaps } from '@attnflow/viz';
import type { HeadOptions } from './options.js';
import { TaskError, type Task } from './task.js';

export interface NamedMaps {
  /** encoder (self), decoder (causal self) or cross (target × source). */
  name: 'encoder' | 'decoder' | 'cross';
  maps: AttentionMaps;
}

/** Special tokens stay (they draw much of the attention); wordpieces and byte-level marks are kept as tokens. */
const tokensOf = (m: LoadedModel, ids: number[]) => ids.map((id) => m.tokenizer.idToToken(id) ?? `<${id}>`);

/**
 * Every attention weight the model computes for one text: encoder self-attention (BERT family, and the
 * encoder of seq2seq models), GPT-2's causal self-attention, and for seq2seq the decoder's causal
 * self-attention and the cross-attention over the source.
 */
export async function attentionMaps(model: LoadedModel, text: string, head: HeadOptions['attention'] = {}, decoder: GenerationConfig = {}): Promise<NamedMaps[]> {
  if (!text.trim()) throw new TaskError('attention needs a non-empty text');
  if (model.kind === 'encoder') {
    const enc = model.tokenizer.encodeBatch([text], { maxLength: model.model.recipe.maxPositions });
    const out = await model.model.forward(enc, { outputAttentions: true });
    const tokens = enc.encodings[0].tokens;
    return [{ name: 'encoder', maps: mapsFromLayers(out.attentions!, model.model.recipe.numHeads, enc.length, enc.length, 0, tokens, tokens, 'self') }];
  }
  if (model.kind === 'causal') {
    const ids = model.tokenizer.encode(text).ids.slice(0, model.model.recipe.maxPositions);
    const out = await model.model.forward({ batch: 1, length: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1) }, { outputAttentions: true });
    const tokens = tokensOf(model, ids);
    return [{ name: 'decoder', maps: mapsFromLayers(out.attentions!, model.model.recipe.numHeads, ids.length, ids.length, 0, tokens, tokens, 'causal') }];
  }
  const m = model.model;
  const src = model.tokenizer.encode(text, undefined, { maxLength: m.recipe.maxPositions || 512 }).ids;
  const inputs = { batch: 1, length: src.length, inputIds: Int32Array.from(src), attentionMask: new Int32Array(src.length).fill(1) };
  let target: number[];
  if (head.target !== undefined) target = model.tokenizer.encode(head.target).ids;
  else {
    [target] = await m.generate(inputs, { maxNewTokens: 20, ...decoder, numBeams: 1 });
    const eos = eosIdsOf(m, decoder);
    const end = target.findIndex((t) => eos.has(t));
    if (end >= 0) target = target.slice(0, end + 1);
  }
  const start = decoder.decoderStartTokenId ?? m.generationConfig.decoderStartTokenId ?? m.recipe.decoderStartTokenId;
  const decoderInput = [start, ...target].slice(0, Math.max(1, target.length));
  const out = await m.forward(inputs, [decoderInput], { outputAttentions: true });
  const srcTokens = tokensOf(model, src);
  const tgtTokens = tokensOf(model, decoderInput);
  const H = m.recipe.numHeads;
  return [
    { name: 'encoder', maps: mapsFromLayers(out.encoderAttentions!, H, src.length, src.length, 0, srcTokens, srcTokens, 'self') },
    { name: 'decoder', maps: mapsFromLayers(out.decoderAttentions!, H, decoderInput.length, decoderInput.length, 0, tgtTokens, tgtTokens, 'causal') },
    { name: 'cross', maps: mapsFromLayers(out.crossAttentions!, H, decoderInput.length, src.length, 0, tgtTokens, srcTokens, 'cross') },
  ];
}

export interface AttentionRow {
  layer: number;
  head: number;
  query: number;
  key: number;
  weight: number;
}

/** Pipeline task: each record's attention weights (the model's first stack) in long form. */
export const attentionTask: Task<'attention', { tokens: string[]; attention: AttentionRow[] }> = {
  name: 'attention',
  kinds: ['encoder', 'causal', 'seq2seq'],
  async run(model, records, options) {
    const results = [];
    let tokens = 0;
    for (const r of records) {
      const [{ maps }] = await attentionMaps(model, r.text, options.head, options.decoder);
      const q = maps.queryTokens.length;
      const k = maps.keyTokens.length;
      const rows: AttentionRow[] = [];
      for (let l = 0; l < maps.layers; l++)
        for (let h = 0; h < maps.heads; h++)
          for (let i = 0; i < q; i++)
            for (let j = 0; j < k; j++) rows.push({ layer: l, head: h, query: i, key: j, weight: maps.weights[((l * maps.heads + h) * q + i) * k + j] });
      results.push({ tokens: maps.queryTokens, attention: rows });
      tokens += q;
    }
    return { results, tokens };
  },
};
