/**
 * Half-precision floats as raw 16-bit patterns, widened exactly to float32: bfloat16 is the top half of a
 * float32 (append 16 zero bits); float16 (IEEE binary16) is looked up in a table of all 65,536 values.
 */
export const F16_TO_F32 = (() => {
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

const word = new Uint32Array(1);
const wordAsFloat = new Float32Array(word.buffer);

/** One bfloat16 bit pattern as a float32 value. */
export function bfloat16ToFloat(bits: number): number {
  word[0] = bits << 16;
  return wordAsFloat[0];
}

/** src: little-endian f16 bits (n,) -> out (n,) f32 */
export function widenF16(out: Float32Array, src: Uint16Array): void {
  for (let i = 0; i < src.length; i++) out[i] = F16_TO_F32[src[i]];
}

/** src: little-endian bf16 bits (n,) -> out (n,) f32 */
export function widenBF16(out: Float32Array, src: Uint16Array): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
}
