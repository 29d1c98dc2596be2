import {
  DataType,
  Field,
  FixedSizeList,
  Float32,
  Int32,
  Table,
  Type,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  type Data,
  type Vector,
} from 'apache-arrow';
import { readFileSync, writeFileSync } from 'node:fs';
import type { SharedArena } from './arena.js';
import { ShapeError, Tensor, type DType } from './tensor.js';

/**
 * A tensor *is* an Arrow column: shape [rows, d1, d2, ...] is a vector of `rows` elements, each a
 * FixedSizeList<d1> of FixedSizeList<d2> ... of Float32 (or Int32). The leaf data buffer is the tensor's
 * own view of the shared memory: nothing is copied in either direction.
 */
export function tensorToArrow(tensor: Tensor): Vector {
  const leafType = tensor.dtype === 'float32' ? new Float32() : new Int32();
  let data: Data = makeData({ type: leafType, length: tensor.size, nullCount: 0, data: tensor.data } as never);
  let length = tensor.size;
  for (let axis = tensor.shape.length - 1; axis >= 1; axis--) {
    const width = tensor.shape[axis];
    length = tensor.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const type = new FixedSizeList(width, new Field('item', data.type, false));
    data = makeData({ type, length, nullCount: 0, child: data });
  }
  return makeVector(data);
}

function leafDType(type: DataType): DType {
  if (type.typeId === Type.Float && (type as Float32).precision === 1) return 'float32';
  if (type.typeId === Type.Int && (type as Int32).bitWidth === 32 && (type as Int32).isSigned) return 'int32';
  throw new ShapeError(`an Arrow column of ${type} is not a tensor (expected Float32/Int32, possibly in FixedSizeLists)`);
}

/** The shape and dtype an Arrow vector would have as a tensor. */
export function arrowTensorShape(vector: Vector): { shape: number[]; dtype: DType } {
  const shape = [vector.length];
  let type: DataType = vector.type;
  while (type.typeId === Type.FixedSizeList) {
    const list = type as FixedSizeList;
    shape.push(list.listSize);
    type = list.children[0].type;
  }
  return { shape, dtype: leafDType(type) };
}

/**
 * The tensor behind an Arrow vector. When the vector already lives in `arena` (made by `tensorToArrow`), the
 * tensor is a view of the same bytes; otherwise (e.g. read from a file) the values are copied into the arena once.
 */
export function arrowToTensor(vector: Vector, arena?: SharedArena): Tensor {
  const { shape, dtype } = arrowTensorShape(vector);
  if (vector.nullCount > 0) throw new ShapeError('an Arrow column with nulls cannot be a tensor');
  const out = dtype === 'float32' ? Tensor.empty('float32', shape, arena) : Tensor.empty('int32', shape, arena);
  const target = out.data;
  let at = 0;
  for (const chunk of vector.data) {
    let leaf: Data = chunk;
    let scale = 1;
    while (leaf.type.typeId === Type.FixedSizeList) {
      scale *= (leaf.type as FixedSizeList).listSize;
      leaf = leaf.children[0];
    }
    const start = (chunk.offset * scale) + leaf.offset;
    const count = chunk.length * scale;
    target.set((leaf.values as Float32Array | Int32Array).subarray(start, start + count), at);
    at += count;
  }
  return out;
}

export type Column = Tensor | Vector;

/** A table whose tensor columns share memory with the tensors. All columns need the same row count. */
export function tensorTable(columns: Record<string, Column>): Table {
  const vectors: Record<string, Vector> = {};
  for (const [name, column] of Object.entries(columns)) {
    vectors[name] = column instanceof Tensor ? tensorToArrow(column) : column;
  }
  return new Table(vectors);
}

/** Writes an Arrow IPC file (the `.arrow` / Feather v2 format pyarrow, DuckDB and polars read). */
export function writeArrowFile(path: string, columns: Record<string, Column> | Table): void {
  const table = columns instanceof Table ? columns : tensorTable(columns);
  writeFileSync(path, tableToIPC(table, 'file'));
}

export function readArrowFile(path: string): Table {
  return tableFromIPC(readFileSync(path));
}

/** Reads the tensor columns of an Arrow IPC file into the arena. */
export function readTensors(path: string, arena?: SharedArena): Record<string, Tensor> {
  const table = readArrowFile(path);
  const out: Record<string, Tensor> = {};
  for (const field of table.schema.fields) {
    out[field.name] = arrowToTensor(table.getChild(field.name)!, arena);
  }
  return out;
}
