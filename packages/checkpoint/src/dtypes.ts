/** The safetensors dtypes attnflow reads, and what each becomes in memory (floats widen to f32, ints narrow to i32). */
export const SAFETENSORS_DTYPES = {
  F32: { bytes: 4, to: 'float32' },
  F16: { bytes: 2, to: 'float32' },
  BF16: { bytes: 2, to: 'float32' },
  I64: { bytes: 8, to: 'int32' },
  I32: { bytes: 4, to: 'int32' },
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

export function isSupportedDType(d: string): d is SafetensorsDType {
  return Object.hasOwn(SAFETENSORS_DTYPES, d);
}

const f16Table = (() => {
  // All 65,536 half values, so that widening is one lookup per element.
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
})();

/** src: little-endian f16 bits (n,) -> out (n,) f32 */
export function widenF16(out: Float32Array, src: Uint16Array): void {
  for (let i = 0; i < src.length; i++) out[i] = f16Table[src[i]];
}

/** src: little-endian bf16 bits (n,) -> out (n,) f32; bf16 is the top half of an f32. */
export function widenBF16(out: Float32Array, src: Uint16Array): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
}

/** src: i64 (n,) -> out (n,) i32; returns the index of the first value out of i32 range, or -1. */
export function narrowI64(out: Int32Array, src: BigInt64Array): number {
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v > 2147483647n || v < -2147483648n) return i;
    out[i] = Number(v);
  }
  return -1;
}
