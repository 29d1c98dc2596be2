import { closeSync, openSync, writeSync } from 'node:fs';
import { Float16Array } from '@petamoriken/float16';

/**
 * A GGUF (version 3) writer, enough for llama.cpp to load a checkpoint the bench also gives attnflow: metadata
 * key/values, then tensor infos, then the data, each tensor aligned to `general.alignment` (32). Tensors stream
 * in chunks, so a gigabyte model never sits in memory whole.
 */

/** GGUF metadata value types (gguf.h's gguf_type). */
const KV = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;
type Scalar = 'u32' | 'i32' | 'f32' | 'bool' | 'string';
export type GgufValue = { type: Scalar; value: number | boolean | string } | { type: 'array'; of: 'i32' | 'string'; values: readonly (number | string)[] };

/** ggml_type numbers of the tensor types written here. */
const GGML = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgufTensorType = keyof typeof GGML;

/** Q8_0: blocks of 32 weights, each an f16 scale then 32 int8 (ggml-common.h's block_q8_0). */
export const Q8_0_BLOCK = 32;
const Q8_0_BYTES = 2 + Q8_0_BLOCK;
const ALIGNMENT = 32;

export interface GgufTensor {
  name: string;
  /** As PyTorch and safetensors write it (slowest dimension first); GGUF stores it reversed (ne[0] fastest). */
  shape: readonly number[];
  type: GgufTensorType;
  /**
   * The values in row-major order, as f32 chunks whose lengths are multiples of 32 for Q8_0. A chunk given
   * again (the same array) is converted once: a synthetic checkpoint that repeats a row costs one conversion.
   */
  chunks(): Iterable<Float32Array>;
}

const count = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

export function tensorBytes(type: GgufTensorType, n: number): number {
  if (type === 'F32') return 4 * n;
  if (type === 'F16') return 2 * n;
  if (n % Q8_0_BLOCK) throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${n}`);
  return (n / Q8_0_BLOCK) * Q8_0_BYTES;
}

/** Q8_0 as ggml's quantize_row_q8_0_ref: scale amax/127 (stored as f16), values round(x / scale). */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  const blocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(blocks * Q8_0_BYTES);
  const view = new DataView(out.buffer);
  const half = new Float16Array(1);
  const halfBits = new Uint16Array(half.buffer);
  for (let b = 0; b < blocks; b++) {
    const at = b * Q8_0_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(values[at + i]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    half[0] = d;
    view.setUint16(b * Q8_0_BYTES, halfBits[0], true);
    // roundf: halves away from zero (Math.round would take -2.5 to -2)
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const x = values[at + i] * id;
      view.setInt8(b * Q8_0_BYTES + 2 + i, Math.sign(x) * Math.round(Math.abs(x)));
    }
  }
  return out;
}

function encode(type: GgufTensorType, values: Float32Array): Uint8Array {
  if (type === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (type === 'F16') return new Uint8Array(new Float16Array(values).buffer);
  return quantizeQ8_0(values);
}

/** Little-endian bytes of the header, grown as it is written. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(2 * this.buf.length, this.length + n));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // room() may replace the buffer: each write takes its offset first
  u32(v: number) { const at = this.room(4); this.buf.writeUInt32LE(v, at); }
  i32(v: number) { const at = this.room(4); this.buf.writeInt32LE(v, at); }
  u64(v: number) { const at = this.room(8); this.buf.writeBigUInt64LE(BigInt(v), at); }
  f32(v: number) { const at = this.room(4); this.buf.writeFloatLE(v, at); }
  u8(v: number) { const at = this.room(1); this.buf.writeUInt8(v, at); }
  string(s: string) {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    const at = this.room(bytes.length);
    bytes.copy(this.buf, at);
  }
  pad(to: number) { this.room((to - (this.length % to)) % to); }
  get bytes(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function writeValue(out: Bytes, v: GgufValue): void {
  if (v.type === 'array') {
    out.u32(KV.array);
    out.u32(KV[v.of]);
    out.u64(v.values.length);
    for (const x of v.values) (v.of === 'string' ? out.string(String(x)) : out.i32(Number(x)));
    return;
  }
  out.u32(KV[v.type]);
  if (v.type === 'string') out.string(String(v.value));
  else if (v.type === 'bool') out.u8(v.value ? 1 : 0);
  else if (v.type === 'f32') out.f32(Number(v.value));
  else if (v.type === 'i32') out.i32(Number(v.value));
  else out.u32(Number(v.value));
}

/** Writes a GGUF file: the metadata in the order given, then the tensors. Returns the bytes of tensor data. */
export function writeGguf(file: string, metadata: readonly (readonly [string, GgufValue])[], tensors: readonly GgufTensor[]): number {
  const header = new Bytes();
  header.u32(0x46554747); // "GGUF"
  header.u32(3);
  header.u64(tensors.length);
  header.u64(metadata.length);
  for (const [key, value] of metadata) {
    header.string(key);
    writeValue(header, value);
  }
  let offset = 0;
  for (const t of tensors) {
    header.string(t.name);
    header.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) header.u64(d);
    header.u32(GGML[t.type]);
    header.u64(offset);
    offset += tensorBytes(t.type, count(t.shape));
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  header.pad(ALIGNMENT);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, header.bytes);
    const zeros = new Uint8Array(ALIGNMENT);
    for (const t of tensors) {
      let written = 0;
      let lastIn: Float32Array | undefined, lastOut: Uint8Array = new Uint8Array(0);
      for (const chunk of t.chunks()) {
        if (chunk !== lastIn) [lastIn, lastOut] = [chunk, encode(t.type, chunk)];
        writeSync(fd, lastOut);
        written += lastOut.length;
      }
      if (written !== tensorBytes(t.type, count(t.shape))) throw new Error(`${file}: tensor ${t.name} gave ${written} bytes, its shape needs ${tensorBytes(t.type, count(t.shape))}`);
      writeSync(fd, zeros, 0, (ALIGNMENT - (written % ALIGNMENT)) % ALIGNMENT);
    }
  } finally {
    closeSync(fd);
  }
  return offset;
}

/**
 * llama.cpp's names for a Hugging Face Llama-family checkpoint (convert_hf_to_gguf.py's tensor map), for
 * the qwen2 architecture: no q/k permutation, as qwen2 uses NeoX-style rotary.
 */
export function ggufTensorName(hf: string): string {
  const fixed: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };
  if (fixed[hf]) return fixed[hf];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  const parts: Record<string, string> = {
    input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm',
    'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
    'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  };
  if (!m || !parts[m[2]]) throw new Error(`no GGUF name for tensor ${hf}`);
  return `blk.${m[1]}.${parts[m[2]]}.${m[3]}`;
}

/** The qwen2 hyper-parameters llama.cpp reads, from a config.json's values. */
export function qwen2Metadata(name: string, config: { hidden: number; layers: number; heads: number; kvHeads: number; ffn: number; context: number; ropeTheta: number; rmsEps: number }, type: GgufTensorType): [string, GgufValue][] {
  return [
    ['general.architecture', { type: 'string', value: 'qwen2' }],
    ['general.name', { type: 'string', value: name }],
    // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7
    ['general.file_type', { type: 'u32', value: { F32: 0, F16: 1, Q8_0: 7 }[type] }],
    ['general.alignment', { type: 'u32', value: ALIGNMENT }],
    ['qwen2.context_length', { type: 'u32', value: config.context }],
    ['qwen2.embedding_length', { type: 'u32', value: config.hidden }],
    ['qwen2.block_count', { type: 'u32', value: config.layers }],
    ['qwen2.feed_forward_length', { type: 'u32', value: config.ffn }],
    ['qwen2.attention.head_count', { type: 'u32', value: config.heads }],
    ['qwen2.attention.head_count_kv', { type: 'u32', value: config.kvHeads }],
    ['qwen2.rope.freq_base', { type: 'f32', value: config.ropeTheta }],
    ['qwen2.attention.layer_norm_rms_epsilon', { type: 'f32', value: config.rmsEps }],
  ];
}

/** llama.cpp's token types (llama_token_type): what the vocabulary says each token is. */
export const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4 } as const;

/** A byte-level BPE vocabulary as GGUF metadata (tokenizer.ggml.model "gpt2"). */
export function gpt2TokenizerMetadata(tokenizer: { tokens: readonly string[]; types: readonly number[]; merges: readonly string[]; bos: number; eos: number; pad?: number; pre: string; chatTemplate?: string }): [string, GgufValue][] {
  const out: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: tokenizer.pre }],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', values: tokenizer.tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', values: tokenizer.types }],
    ['tokenizer.ggml.merges', { type: 'array', of: 'string', values: tokenizer.merges }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: tokenizer.bos }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: tokenizer.eos }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }],
  ];
  if (tokenizer.pad !== undefined) out.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: tokenizer.pad }]);
  if (tokenizer.chatTemplate !== undefined) out.push(['tokenizer.chat_template', { type: 'string', value: tokenizer.chatTemplate }]);
  return out;
}
