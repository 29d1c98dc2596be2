/** The safetensors dtypes attnflow reads, and what each becomes in memory (floats widen to f32, ints narrow to i32). */
export const SAFETENSORS_DTYPES = {
  F32: { bytes: 4, to: 'float32' },
  F16: { bytes: 2, to: 'float32', half: 'float16' },
  BF16: { bytes: 2, to: 'float32', half: 'bfloat16' },
  I64: { bytes: 8, to: 'int32' },
  I32: { bytes: 4, to: 'int32' },
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

export function isSupportedDType(d: string): d is SafetensorsDType {
  return Object.hasOwn(SAFETENSORS_DTYPES, d);
}

// Widening lives beside the half dtypes (the kernels widen weights the same way as they read them).
export { widenBF16, widenF16 } from '@attnflow/tensor';

/** src: i64 (n,) -> out (n,) i32; returns the index of the first value out of i32 range, or -1. */
export function narrowI64(out: Int32Array, src: BigInt64Array): number {
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v > 2147483647n || v < -2147483648n) return i;
    out[i] = Number(v);
  }
  return -1;
}
