import { closeSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import { sharedArena, Tensor, type SharedArena } from '@attnflow/tensor';
import { SAFETENSORS_DTYPES, isSupportedDType, narrowI64, widenBF16, widenF16, type SafetensorsDType } from './dtypes.js';

/** Hugging Face's own limit on the JSON header; larger means corrupt or hostile. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Widening and narrowing go through a bounded scratch buffer, not a whole-tensor copy. */
const CHUNK_BYTES = 4 * 1024 * 1024;

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
  file: string;
}

export interface SafetensorsHeader {
  file: string;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

function fail(file: string, what: string): never {
  throw new CheckpointError(`${file}: ${what}`);
}

function readExactly(fd: number, file: string, into: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) fail(file, `file is truncated: ${what} ends at byte ${position + into.length}, the file ends at ${position + done}`);
    done += n;
  }
}

/**
 * The first top-level key of a JSON object text that occurs twice, or undefined. JSON.parse keeps the last of
 * duplicate keys silently, but a header naming one tensor twice is corrupt: which bytes are meant is unknown.
 */
function firstDuplicateKey(json: string): string | undefined {
  const keyAfter = /\s*:/y;
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      keyAfter.lastIndex = end + 1;
      if (depth === 1 && keyAfter.test(json)) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = end;
    }
  }
  return undefined;
}

/** Reads and validates the header of a .safetensors file without touching the tensor bytes. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    fail(file, `cannot open: ${(e as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) fail(file, 'is a directory, expected a .safetensors file');
    const size = stat.size;
    if (size < 8) fail(file, `file is ${size} bytes, too short for a safetensors header (8-byte length first)`);
    const lenBytes = new Uint8Array(8);
    readExactly(fd, file, lenBytes, 0, 'header length');
    const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file, or corrupt`);
    const n = Number(headerLen);
    if (8 + n > size) fail(file, `header length ${n} runs past the end of the ${size}-byte file: truncated or corrupt`);
    const headerBytes = new Uint8Array(n);
    readExactly(fd, file, headerBytes, 8, 'header');
    let header: unknown;
    let text = '';
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
      header = JSON.parse(text);
    } catch (e) {
      fail(file, `header is not valid JSON: ${(e as Error).message}`);
    }
    const duplicate = firstDuplicateKey(text);
    if (duplicate !== undefined) fail(file, `tensor "${duplicate}" is listed twice in the header (JSON keeps the last silently; the file is corrupt)`);
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(file, 'header is not a JSON object');
    const dataStart = 8 + n;
    const dataSize = size - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = raw as Record<string, string>;
        continue;
      }
      const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof entry !== 'object' || entry === null) fail(file, `tensor "${name}": entry is not an object`);
      if (typeof entry.dtype !== 'string' || !isSupportedDType(entry.dtype)) {
        fail(file, `tensor "${name}": dtype ${JSON.stringify(entry.dtype)} is not supported (expected one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`);
      }
      const shape = entry.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        fail(file, `tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
      }
      const offsets = entry.data_offsets;
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) || offsets[0] > offsets[1]) {
        fail(file, `tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
      }
      const [begin, end] = offsets as [number, number];
      if (end > dataSize) fail(file, `tensor "${name}": data ends at byte ${end} of the data section, which has only ${dataSize} bytes (file truncated?)`);
      const numel = (shape as number[]).reduce((a, b) => a * b, 1);
      const expected = numel * SAFETENSORS_DTYPES[entry.dtype].bytes;
      if (end - begin !== expected) fail(file, `tensor "${name}": ${end - begin} bytes stored but ${entry.dtype}[${shape}] needs ${expected}`);
      tensors.set(name, { name, dtype: entry.dtype, shape: shape as number[], start: dataStart + begin, end: dataStart + end, file });
    }
    const sorted = [...tensors.values()].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].start < sorted[i - 1].end && sorted[i].end > sorted[i].start) {
        fail(file, `tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap in the file`);
      }
    }
    return { file, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads one tensor straight from the file into the arena: f32 bytes go from disk to shared memory with no
 * intermediate copy; other dtypes convert through a bounded scratch buffer.
 */
export function loadTensor(info: TensorInfo, arena: SharedArena = sharedArena(), options: { keepHalf?: boolean } = {}): Tensor {
  const spec = SAFETENSORS_DTYPES[info.dtype];
  const { bytes } = spec;
  // keepHalf: BF16/F16 stay 2 bytes an element (the kernels widen them as they read)
  const half = options.keepHalf && 'half' in spec ? spec.half : undefined;
  const tensor = Tensor.empty(half ?? spec.to, info.shape, arena);
  const fd = openSync(info.file, 'r');
  try {
    const what = `tensor "${info.name}"`;
    if (bytes === 4 || half) {
      readExactly(fd, info.file, arena.u8(tensor.byteOffset, tensor.byteLength), info.start, what);
      return tensor;
    }
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / bytes));
    const scratch = new ArrayBuffer(perChunk * bytes);
    for (let first = 0; first < tensor.size; first += perChunk) {
      const count = Math.min(perChunk, tensor.size - first);
      const raw = new Uint8Array(scratch, 0, count * bytes);
      readExactly(fd, info.file, raw, info.start + first * bytes, what);
      if (info.dtype === 'I64') {
        const bad = narrowI64(arena.i32(tensor.byteOffset + first * 4, count), new BigInt64Array(scratch, 0, count));
        if (bad >= 0) fail(info.file, `${what}: element ${first + bad} does not fit in int32`);
      } else {
        const out = arena.f32(tensor.byteOffset + first * 4, count);
        (info.dtype === 'F16' ? widenF16 : widenBF16)(out, new Uint16Array(scratch, 0, count));
      }
    }
    return tensor;
  } catch (e) {
    tensor.dispose();
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Writes f32/i32 tensors (or plain arrays with shapes) as a .safetensors file. */
export function writeSafetensors(
  file: string,
  tensors: Record<string, { shape: readonly number[]; data: Float32Array | Int32Array }>,
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.data instanceof Float32Array ? 'F32' : 'I32';
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  writeFileSync(file, out);
}
