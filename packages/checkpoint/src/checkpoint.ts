import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedArena, type SharedArena, type Tensor } from '@attnflow/tensor';
import { CheckpointError, loadTensor, readSafetensorsHeader, type TensorInfo } from './safetensors.js';

export type ConfigJson = Record<string, unknown>;

/** Reads a JSON file of a model directory, naming the file in any error. */
export function readJsonFile<T = ConfigJson>(file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The tensors of a Hugging Face model directory (`model.safetensors`, or shards listed by
 * `model.safetensors.index.json`). Headers are read up front; tensor bytes are read only when a model asks.
 */
export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly arena: SharedArena,
  ) {}

  static open(dir: string, arena: SharedArena = sharedArena()): Checkpoint {
    const single = join(dir, 'model.safetensors');
    const index = join(dir, 'model.safetensors.index.json');
    const tensors = new Map<string, TensorInfo>();
    if (existsSync(single)) {
      for (const [name, info] of readSafetensorsHeader(single).tensors) tensors.set(name, info);
    } else if (existsSync(index)) {
      const json = readJsonFile<{ weight_map?: Record<string, string> }>(index);
      if (!json.weight_map || typeof json.weight_map !== 'object') throw new CheckpointError(`${index}: no "weight_map" object`);
      const shards = new Set(Object.values(json.weight_map));
      for (const shard of shards) {
        if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) throw new CheckpointError(`${index}: shard name ${JSON.stringify(shard)} must be a file name in the model directory`);
        for (const [name, info] of readSafetensorsHeader(join(dir, shard)).tensors) {
          if (json.weight_map[name] !== shard) throw new CheckpointError(`${join(dir, shard)}: tensor "${name}" is not listed for this shard in ${index}`);
          tensors.set(name, info);
        }
      }
      for (const [name, shard] of Object.entries(json.weight_map)) {
        if (!tensors.has(name)) throw new CheckpointError(`${index}: tensor "${name}" is listed in ${shard} but that file does not contain it`);
      }
    } else {
      throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json (attnflow reads safetensors checkpoints; convert pytorch_model.bin with Hugging Face's save_pretrained(safe_serialization=True))`);
    }
    return new Checkpoint(dir, tensors, arena);
  }

  /** One .safetensors file on its own (e.g. a module's state_dict), without a model directory around it. */
  static openFile(file: string, arena: SharedArena = sharedArena()): Checkpoint {
    return new Checkpoint(file, readSafetensorsHeader(file).tensors, arena);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The tensor `name`; with keepHalf, BF16/F16 tensors keep their 2-byte elements instead of widening to f32. */
  load(name: string, options: { keepHalf?: boolean } = {}): Tensor {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.dir}: no tensor "${name}"`);
    return loadTensor(info, this.arena, options);
  }
}

export function readConfig(dir: string): ConfigJson {
  const file = join(dir, 'config.json');
  const config = readJsonFile(file);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new CheckpointError(`${file}: expected a JSON object`);
  return config;
}
