import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncoderModel } from '@attnflow/models';
import { Engine } from '@attnflow/kernels';
import { Checkpoint, writeSafetensors } from '@attnflow/checkpoint';
import { Tokenizer } from '@attnflow/tokenizer';
import { fixture, readJson } from './helpers/fixtures.js';

const engine = new Engine({ workers: 0 });
afterAll(() => engine.close());

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;

/** The bert fixture's tensors, renamed and edited, written as another checkpoint with its own config. */
function variant(rename: (name: string) => string | undefined, config: Record<string, unknown>, edit: (t: Tensors) => void = () => {}): string {
  const ckpt = Checkpoint.open(fixture('bert'));
  const tensors: Tensors = {};
  for (const [name, info] of ckpt.tensors) {
    const to = rename(name);
    if (to) tensors[to] = { shape: info.shape, data: ckpt.load(name).toArray() as Float32Array };
  }
  edit(tensors);
  const dir = mkdtempSync(join(tmpdir(), 'attnflow-variant-'));
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...readJson('bert', 'config.json'), ...config }));
  copyFileSync(fixture('bert', 'tokenizer.json'), join(dir, 'tokenizer.json'));
  return dir;
}

const texts = readJson('bert', 'expected.json').texts.filter(Boolean) as string[];
const tok = Tokenizer.fromDirectory(fixture('bert'));

async function hidden(dir: string, text: string): Promise<number[]> {
  return Array.from((await EncoderModel.load(dir, engine).forward(tok.encodeBatch([text]))).lastHiddenState);
}

describe('BERT-family weight-name variants give the same model', () => {
  it('old LayerNorm names (gamma/beta) load to identical outputs', async () => {
    const dir = variant((n) => n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'), {});
    for (const t of texts) expect(await hidden(dir, t)).toEqual(await hidden(fixture('bert'), t));
  });

  it('a "bert."-prefixed checkpoint loads to identical outputs', async () => {
    const dir = variant((n) => `bert.${n}`, {});
    expect(await hidden(dir, texts[0])).toEqual(await hidden(fixture('bert'), texts[0]));
  });

  it('DistilBERT names and config: equal to BERT without token-type embeddings', async () => {
    const zeroTypes = (t: Tensors) => t['embeddings.token_type_embeddings.weight'].data.fill(0);
    const bert = variant((n) => (n.startsWith('pooler') ? undefined : n), {}, zeroTypes);
    const names: [RegExp, string][] = [
      [/^encoder\.layer\.(\d+)\.attention\.self\.query/, 'transformer.layer.$1.attention.q_lin'],
      [/^encoder\.layer\.(\d+)\.attention\.self\.key/, 'transformer.layer.$1.attention.k_lin'],
      [/^encoder\.layer\.(\d+)\.attention\.self\.value/, 'transformer.layer.$1.attention.v_lin'],
      [/^encoder\.layer\.(\d+)\.attention\.output\.dense/, 'transformer.layer.$1.attention.out_lin'],
      [/^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm/, 'transformer.layer.$1.sa_layer_norm'],
      [/^encoder\.layer\.(\d+)\.intermediate\.dense/, 'transformer.layer.$1.ffn.lin1'],
      [/^encoder\.layer\.(\d+)\.output\.dense/, 'transformer.layer.$1.ffn.lin2'],
      [/^encoder\.layer\.(\d+)\.output\.LayerNorm/, 'transformer.layer.$1.output_layer_norm'],
    ];
    const distil = variant((n) => {
      if (n.startsWith('pooler') || n.includes('token_type')) return undefined;
      for (const [re, to] of names) if (re.test(n)) return `distilbert.${n.replace(re, to)}`;
      return `distilbert.${n}`;
    }, { architectures: ['DistilBertModel'], model_type: 'distilbert', dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 37, activation: 'gelu', hidden_size: undefined, num_attention_heads: undefined, num_hidden_layers: undefined, intermediate_size: undefined });
    for (const t of texts) {
      const a = await hidden(distil, t);
      const b = await hidden(bert, t);
      expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-6);
    }
  });

  it('RoBERTa: positions offset by padding_idx + 1, equal to BERT with the table shifted', async () => {
    // RoBERTa tells padding by its id (transformers' rule), so padding_idx must be the vocabulary's [PAD] (0 here)
    const pad = 0;
    const roberta = variant((n) => (n.startsWith('pooler') ? undefined : `roberta.${n}`), { architectures: ['RobertaModel'], model_type: 'roberta', pad_token_id: pad, max_position_embeddings: 64 }, (t) => {
      const p = t['roberta.embeddings.position_embeddings.weight'];
      const H = p.shape[1];
      const shifted = new Float32Array(p.data.length);
      shifted.set(p.data.subarray(0, p.data.length - (pad + 1) * H), (pad + 1) * H);
      p.data.set(shifted);
    });
    const bert = variant((n) => (n.startsWith('pooler') ? undefined : n), {});
    for (const t of texts) {
      const a = await hidden(roberta, t);
      const b = await hidden(bert, t);
      expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-6);
    }
  });

  it('unknown architectures are refused with the list of supported ones', () => {
    const dir = variant((n) => n, { architectures: ['LongformerModel'] });
    expect(() => EncoderModel.load(dir, engine)).toThrow(/architecture "LongformerModel" is not an encoder attnflow supports \(supported: BertModel, .*DebertaV2Model/);
    const missing = variant((n) => (n.includes('layer.1.output.dense.weight') ? undefined : n), {});
    expect(() => EncoderModel.load(missing, engine)).toThrow(/missing tensor "encoder.layer.1.output.dense.weight" \[32, 37\]/);
  });
});
