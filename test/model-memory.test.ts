import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '@attnflow/kernels';
import { loadModel, MODEL_DTYPES } from '@attnflow/models';
import { fixture } from './helpers/fixtures.js';

const engine = new Engine({ workers: 0 });
afterAll(() => engine.close());

const folders = (dir: string) => readdirSync(fixture(dir)).map((d) => fixture(dir, d)).filter((d) => statSync(d).isDirectory());
// every loader: encoders (BERT and every other architecture), GPT-2, Llama-like decoders, encoder-decoders
const MODELS = [
  fixture('bert'), ...folders('architectures'),
  fixture('gpt2'), fixture('decoders', 'qwen2'), fixture('decoders', 'gemma2'), fixture('bart'), fixture('t5'),
];

describe('a disposed model gives every byte of its load back to the arena', () => {
  for (const dir of MODELS) {
    it(dir.slice(dir.indexOf('fixtures/') + 9), () => {
      for (const dtype of MODEL_DTYPES) {
        const before = engine.arena.allocatedBytes;
        const m = loadModel(dir, engine, { dtype });
        expect(engine.arena.allocatedBytes).toBeGreaterThan(before);
        m.model.dispose();
        expect(engine.arena.allocatedBytes, `${dtype}`).toBe(before);
      }
    });
  }

  it('a load that fails half-way frees what it made before failing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnflow-failing-load-'));
    try {
      cpSync(fixture('decoders', 'qwen2'), dir, { recursive: true });
      // one layer more than the checkpoint holds: every tensor of the others loads, then the missing ones stop it
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { num_hidden_layers: number };
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: config.num_hidden_layers + 1 }));
      const before = engine.arena.allocatedBytes;
      expect(() => loadModel(dir, engine)).toThrow(/layers\.\d+\./);
      expect(engine.arena.allocatedBytes).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
