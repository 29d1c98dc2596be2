import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { widenBF16 } from '@attnflow/checkpoint';
import { ggufTensorName, gpt2TokenizerMetadata, qwen2Metadata, tensorBytes, TOKEN_TYPE, writeGguf, type GgufTensorType } from './gguf.js';

/** Qwen2.5-0.5B's shape (hidden 896, 14 heads / 2 KV heads, FFN 4864, vocabulary 151,936, tied, BF16). */
export const SHAPE = { hidden: 896, layers: 24, heads: 14, kvHeads: 2, ffn: 4864, vocab: 151_936, context: 32768, ropeTheta: 1_000_000, rmsEps: 1e-6 };
/** Qwen2.5's special tokens: <|endoftext|> (bos, pad), <|im_start|>, <|im_end|> (eos). */
const SPECIAL: Record<number, string> = { 151643: '<|endoftext|>', 151644: '<|im_start|>', 151645: '<|im_end|>' };
const BOS = 151643, EOS = 151645;

/** Values a row of 64 Ki repeats: writing a gigabyte of fresh random numbers would dominate the run. */
const CHUNK = 65536;

interface SyntheticTensor {
  name: string;
  shape: number[];
  /** BF16 matrices hold `chunk` repeated; F32 vectors (norms, biases) are ones. */
  chunk?: Uint16Array;
}

const count = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

/**
 * A random Qwen2 checkpoint of that shape, written by tensor chunks (never the whole model in memory), the same
 * weights as safetensors (BF16, for attnflow) and as GGUF (for llama.cpp): the shape, not the values, decides
 * the speed.
 */
export class SyntheticQwen2 {
  readonly tensors: SyntheticTensor[] = [];

  constructor(readonly layers: number) {
    const { hidden: H, heads, kvHeads, ffn: I, vocab: V } = SHAPE;
    const hd = H / heads;
    let s = 1;
    const random = () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.04;
    const word = new Float32Array(1), bits = new Uint32Array(word.buffer);
    const matrix = (name: string, shape: number[]) => this.tensors.push({ name, shape, chunk: new Uint16Array(Math.min(count(shape), CHUNK)).map(() => ((word[0] = random()), bits[0] >>> 16)) });
    const vector = (name: string, n: number) => this.tensors.push({ name, shape: [n] });
    matrix('model.embed_tokens.weight', [V, H]);
    vector('model.norm.weight', H);
    for (let l = 0; l < layers; l++) {
      const p = `model.layers.${l}`;
      vector(`${p}.input_layernorm.weight`, H);
      vector(`${p}.post_attention_layernorm.weight`, H);
      matrix(`${p}.self_attn.q_proj.weight`, [heads * hd, H]);
      vector(`${p}.self_attn.q_proj.bias`, heads * hd);
      matrix(`${p}.self_attn.k_proj.weight`, [kvHeads * hd, H]);
      vector(`${p}.self_attn.k_proj.bias`, kvHeads * hd);
      matrix(`${p}.self_attn.v_proj.weight`, [kvHeads * hd, H]);
      vector(`${p}.self_attn.v_proj.bias`, kvHeads * hd);
      matrix(`${p}.self_attn.o_proj.weight`, [H, heads * hd]);
      matrix(`${p}.mlp.gate_proj.weight`, [I, H]);
      matrix(`${p}.mlp.up_proj.weight`, [I, H]);
      matrix(`${p}.mlp.down_proj.weight`, [H, I]);
    }
  }

  /**
   * Weight bytes a token's decoding reads in attnflow as `dtype`: the tied embedding (which is also the LM head)
   * stays BF16 in every dtype; the layers' matrices take 2 bytes a weight (BF16), 1 plus a scale and a sum per row
   * (q8), or 0.625 (q4: a nibble, plus a float32 scale per 32).
   */
  attnflowBytes(dtype: 'fp32' | 'q8' | 'q4'): number {
    return this.tensors.filter((t) => t.chunk).reduce((n, t) => {
      const [rows, cols] = t.shape;
      // the tied LM head reads the embedding table's 8-bit copy in q8 and q4 (layers' tiedHead): a q8 row has a
      // float scale per 32 weights and an offset
      if (dtype === 'fp32') return n + 2 * rows * cols;
      const q8 = rows * (cols + (4 * cols) / 32 + 4);
      return n + (dtype === 'q8' || t.name === 'model.embed_tokens.weight' ? q8 : rows * cols * 0.625);
    }, 0);
  }

  /** Weight bytes a token's decoding reads when the matrices are stored as `type` (vectors are negligible). */
  matrixBytes(type: GgufTensorType | 'BF16'): number {
    return this.tensors.filter((t) => t.chunk).reduce((n, t) => n + (type === 'BF16' ? 2 * count(t.shape) : tensorBytes(type, count(t.shape))), 0);
  }

  /** model.safetensors (BF16 matrices, F32 vectors) and config.json, as the Hub has Qwen2.5-0.5B. */
  writeSafetensors(dir: string): void {
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const t of this.tensors) {
      const size = count(t.shape) * (t.chunk ? 2 : 4);
      header[t.name] = { dtype: t.chunk ? 'BF16' : 'F32', shape: t.shape, data_offsets: [offset, offset + size] };
      offset += size;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
    const fd = openSync(join(dir, 'model.safetensors'), 'w');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, length);
    writeSync(fd, json);
    for (const t of this.tensors) {
      const n = count(t.shape);
      if (!t.chunk) writeSync(fd, new Uint8Array(new Float32Array(n).fill(1).buffer));
      else for (let at = 0; at < n; at += t.chunk.length) writeSync(fd, t.chunk.subarray(0, Math.min(t.chunk.length, n - at)));
    }
    closeSync(fd);
    const { hidden: H, heads, kvHeads, ffn: I, vocab: V } = SHAPE;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: H, num_hidden_layers: this.layers, num_attention_heads: heads,
      num_key_value_heads: kvHeads, intermediate_size: I, vocab_size: V, max_position_embeddings: SHAPE.context, rms_norm_eps: SHAPE.rmsEps,
      rope_theta: SHAPE.ropeTheta, tie_word_embeddings: true, hidden_act: 'silu', use_sliding_window: false, bos_token_id: BOS, eos_token_id: EOS,
    }));
  }

  /**
   * The same weights as GGUF: matrices as `type` (F16 from BF16 is exact; Q8_0 quantized), vectors F32, as
   * convert_hf_to_gguf.py writes them. The vocabulary is the ASCII byte tokens, placeholders and Qwen2.5's
   * specials: the bench feeds token ids (wllama: ASCII letters, a token each).
   */
  writeGguf(file: string, type: GgufTensorType): void {
    // ASCII bytes, so that every token decodes to valid UTF-8 (wllama's JSON replies refuse a lone byte ≥ 0x80)
    const tokens = Array.from({ length: SHAPE.vocab }, (_, i) => SPECIAL[i] ?? (i < 128 ? byteToken(i) : `[PAD${i}]`));
    const types = tokens.map((_, i) => (SPECIAL[i] ? TOKEN_TYPE.control : TOKEN_TYPE.normal));
    writeGguf(file, [
      ...qwen2Metadata('Qwen2.5-0.5B-shaped random', { ...SHAPE, layers: this.layers }, type),
      ...gpt2TokenizerMetadata({ tokens, types, merges: [], bos: BOS, eos: EOS, pad: BOS, pre: 'qwen2' }),
    ], this.tensors.map((t) => {
      const n = count(t.shape);
      const values = new Float32Array(t.chunk?.length ?? n);
      if (t.chunk) widenBF16(values, t.chunk);
      else values.fill(1);
      return {
        name: ggufTensorName(t.name), shape: t.shape, type: t.chunk ? type : 'F32',
        *chunks() {
          for (let at = 0; at < n; at += values.length) yield at + values.length <= n ? values : values.subarray(0, n - at);
        },
      };
    }));
  }
}

/** GPT-2's byte-level alphabet (bytes_to_unicode): printable bytes as themselves, the rest shifted past 255. */
function byteToken(b: number): string {
  const printable = (x: number) => (x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff);
  if (printable(b)) return String.fromCharCode(b);
  let n = 0;
  for (let x = 0; x < b; x++) if (!printable(x)) n++;
  return String.fromCharCode(256 + n);
}
