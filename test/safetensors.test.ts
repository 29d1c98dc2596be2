import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint, loadTensor, readSafetensorsHeader, writeSafetensors, widenF16, widenBF16, readConfig } from '@attnflow/checkpoint';
import { fixture } from './helpers/fixtures.js';

const dir = () => mkdtempSync(join(tmpdir(), 'attnflow-st-'));

function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips f32 and i32 tensors', () => {
    const file = join(dir(), 'a.safetensors');
    writeSafetensors(file, { w: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, ids: { shape: [2], data: new Int32Array([-1, 9]) } });
    const h = readSafetensorsHeader(file);
    expect(h.tensors.get('w')!.shape).toEqual([2, 3]);
    expect([...loadTensor(h.tensors.get('w')!).data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...loadTensor(h.tensors.get('ids')!).data]).toEqual([-1, 9]);
  });

  it('widens F16 and BF16 and narrows I64', () => {
    const d = dir();
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x7c00]); // 1, -2, 0.33325, inf
    const bf16 = new Uint16Array([0x3f80, 0xc040]); // 1, -3
    const i64 = new BigInt64Array([5n, -7n]);
    const data = new Uint8Array(8 + 4 + 16);
    data.set(new Uint8Array(f16.buffer), 0);
    data.set(new Uint8Array(bf16.buffer), 8);
    data.set(new Uint8Array(i64.buffer), 12);
    const file = join(d, 'b.safetensors');
    writeFileSync(file, rawFile({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] }, i: { dtype: 'I64', shape: [2], data_offsets: [12, 28] } }, data));
    const h = readSafetensorsHeader(file);
    const half = loadTensor(h.tensors.get('h')!).data;
    expect(half[0]).toBe(1);
    expect(half[1]).toBe(-2);
    expect(half[2]).toBeCloseTo(0.33325, 4);
    expect(half[3]).toBe(Infinity);
    expect([...loadTensor(h.tensors.get('b')!).data]).toEqual([1, -3]);
    expect([...loadTensor(h.tensors.get('i')!).data]).toEqual([5, -7]);
    const out = new Float32Array(1);
    widenF16(out, new Uint16Array([0x0001]));
    expect(out[0]).toBeCloseTo(5.96e-8, 10);
    widenBF16(out, new Uint16Array([0x4049]));
    expect(out[0]).toBeCloseTo(3.140625, 6);
  });

  it('rejects corrupt, truncated and hostile files, naming file and tensor', () => {
    const d = dir();
    const cases: [string, Uint8Array, RegExp][] = [
      ['short', new Uint8Array(3), /too short/],
      ['huge-header', rawFile('{}', new Uint8Array(0), 1n << 40n), /exceeds the .* limit/],
      ['past-end', rawFile('{}', new Uint8Array(0), 1000n), /runs past the end/],
      ['bad-json', rawFile('{"a": ', new Uint8Array(0)), /not valid JSON/],
      ['bad-dtype', rawFile({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor "w": dtype "F8" is not supported/],
      ['bad-shape', rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "w": shape/],
      ['truncated', rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)), /tensor "w": data ends at byte 16 .* only 8 bytes/],
      ['size-mismatch', rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, new Uint8Array(16)), /tensor "w": 16 bytes stored but F32\[3\] needs 12/],
      ['overlap', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), /overlap/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const file = join(d, `${name}.safetensors`);
      writeFileSync(file, bytes);
      expect(() => readSafetensorsHeader(file), name).toThrow(pattern);
      expect(() => readSafetensorsHeader(file), name).toThrow(file);
    }
  });

  it('reads sharded checkpoints through model.safetensors.index.json', () => {
    const d = dir();
    writeSafetensors(join(d, 'model-00001-of-00002.safetensors'), { a: { shape: [1], data: new Float32Array([1]) } });
    writeSafetensors(join(d, 'model-00002-of-00002.safetensors'), { b: { shape: [1], data: new Float32Array([2]) } });
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
    const ckpt = Checkpoint.open(d);
    expect([...ckpt.load('b').data]).toEqual([2]);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    expect(() => Checkpoint.open(d)).toThrow(/must be a file name/);
  });

  it('opens every fixture checkpoint and its config', () => {
    for (const m of ['bert', 'bert-seqcls', 'bert-tokcls', 'bert-qa', 'bert-mlm', 'gpt2', 'bart', 'marian', 't5']) {
      const ckpt = Checkpoint.open(fixture(m));
      expect(ckpt.tensors.size).toBeGreaterThan(10);
      for (const info of ckpt.tensors.values()) expect(info.dtype).toBe('F32');
      expect(typeof readConfig(fixture(m)).model_type).toBe('string');
    }
    expect(() => Checkpoint.open(fixture('tokenizers'))).toThrow(/no model.safetensors/);
  });

  it('truncating a real checkpoint names the tensor that is cut', () => {
    const d = dir();
    const bytes = readFileSync(fixture('bert', 'model.safetensors'));
    writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    expect(() => Checkpoint.open(d)).toThrow(/tensor ".*": data ends at byte/);
  });
});
