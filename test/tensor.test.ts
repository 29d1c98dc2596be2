import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { python } from './helpers/python.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedArena, Tensor, tensorToArrow, arrowToTensor, writeArrowFile, readTensors, readArrowFile } from '@attnflow/tensor';

describe('SharedArena', () => {
  it('is backed by a shared WebAssembly.Memory and reuses freed blocks', () => {
    const arena = new SharedArena({ initialBytes: 1 << 16 });
    expect(arena.buffer).toBeInstanceOf(SharedArrayBuffer);
    const a = arena.alloc(100);
    const b = arena.alloc(100);
    expect(a % 64).toBe(0);
    expect(b).toBeGreaterThan(a);
    arena.release(a);
    expect(arena.alloc(64)).toBe(a);
    expect(() => arena.release(12345)).toThrow(/not allocated/);
  });

  it('grows, keeping old data and handing out fresh views', () => {
    const arena = new SharedArena({ initialBytes: 1 << 16 });
    const t = Tensor.from([1, 2, 3], [3], arena);
    const big = Tensor.empty('float32', [1 << 20], arena);
    expect(arena.byteLength).toBeGreaterThanOrEqual(4 << 20);
    expect([...t.data]).toEqual([1, 2, 3]);
    big.data[big.size - 1] = 7;
    expect(big.data[big.size - 1]).toBe(7);
  });

  it('refuses sizes past its maximum with a clear error', () => {
    const arena = new SharedArena({ initialBytes: 1 << 16, maximumBytes: 1 << 20 });
    expect(() => arena.alloc(2 << 20)).toThrow(/out of tensor memory/);
    expect(() => arena.alloc(-1)).toThrow(/cannot allocate/);
  });
});

describe('Tensor as an Arrow column', () => {
  it('is a FixedSizeList<Float32> vector over the same SharedArrayBuffer, both ways', () => {
    const arena = new SharedArena();
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2], arena);
    const v = tensorToArrow(t);
    expect(v.type.toString()).toBe('FixedSizeList[2]<Float32>');
    const leaf = v.data[0].children[0].values as Float32Array;
    expect(leaf.buffer).toBe(arena.buffer);
    expect(leaf.byteOffset).toBe(t.byteOffset);
    t.data[3] = 40; // a write through the tensor is visible through Arrow, no copy
    expect([...(v.get(1) as any).toArray()]).toEqual([3, 40]);
    expect(v.get(2)!.toArray()).toEqual(new Float32Array([5, 6]));
    const back = arrowToTensor(v, arena);
    expect(back.shape).toEqual([3, 2]);
    expect([...back.data]).toEqual([1, 2, 3, 40, 5, 6]);
  });

  it('nests lists for rank 3 and keeps int32', () => {
    const t = Tensor.fromInt32([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
    const v = tensorToArrow(t);
    expect(v.type.toString()).toBe('FixedSizeList[2]<FixedSizeList[2]<Int32>>');
    expect(arrowToTensor(v).shape).toEqual([2, 2, 2]);
  });

  it('round-trips through an Arrow IPC file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnflow-'));
    const file = join(dir, 't.arrow');
    const emb = Tensor.from([0.5, 1.5, 2.5, 3.5], [2, 2]);
    const ids = Tensor.fromInt32([7, 8], [2]);
    writeArrowFile(file, { embedding: emb, id: ids });
    const table = readArrowFile(file);
    expect(table.numRows).toBe(2);
    const read = readTensors(file);
    expect([...read.embedding.data]).toEqual([0.5, 1.5, 2.5, 3.5]);
    expect(read.embedding.shape).toEqual([2, 2]);
    expect([...read.id.data]).toEqual([7, 8]);
    // An independent (C++) reader: pyarrow.
    const pyarrow = python<{ types: string[]; id: number[] }>('import json, sys, pyarrow as pa\nt = pa.ipc.open_file(sys.argv[1]).read_all()\nprint(json.dumps({"types": [str(f.type) for f in t.schema], "id": t.column("id").to_pylist()}))', [file]);
    expect(pyarrow.types).toEqual(['fixed_size_list<item: float not null>[2]', 'int32']);
    expect(pyarrow.id).toEqual([7, 8]);
  });
});
