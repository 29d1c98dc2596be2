import { ROPE_KINDS, type RopeScaling, type RotaryRecipe } from '@attnflow/embedding';
import { ConfigError, type ConfigReader } from './config.js';

type Params = Record<string, unknown>;

const isObject = (v: unknown): v is Params => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * RoPE settings from config.json in both forms: `rope_parameters` (transformers 5) and the Hub's `rope_theta` +
 * `rope_scaling` (`"type"` in older files, `"rope_type"` later), GPT-NeoX's `rotary_pct` / `rotary_emb_base`
 * and Phi-3's top-level `partial_rotary_factor` — merged as transformers 5's standardize_rope_params does.
 */
export function rotaryFromConfig(cfg: ConfigReader, headDim: number, defaultPartial = 1): RotaryRecipe {
  const raw = cfg.raw;
  const scalingField = isObject(raw.rope_parameters) ? 'rope_parameters' : 'rope_scaling';
  const params: Params = { ...(isObject(raw.rope_scaling) ? raw.rope_scaling : {}), ...(isObject(raw.rope_parameters) ? raw.rope_parameters : {}) };
  const field = (name: string) => `${scalingField}.${name}`;
  const num = (name: string, fallback?: number): number => {
    const v = params[name];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new ConfigError(`${cfg.file}: field "${field(name)}" is missing; the ${kind} RoPE needs it`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${cfg.file}: field "${field(name)}" is ${JSON.stringify(v)}; expected a number`);
    return v;
  };
  const kind = params.rope_type ?? params.type ?? 'default';
  if (typeof kind !== 'string' || !(ROPE_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`${cfg.file}: field "${field(params.rope_type !== undefined ? 'rope_type' : 'type')}" is ${JSON.stringify(kind)}; supported RoPE types: ${ROPE_KINDS.join(', ')}`);
  }
  const theta = num('rope_theta', cfg.num(['rope_theta', 'rotary_emb_base'], 10000));
  const partial = num('partial_rotary_factor', cfg.num(['partial_rotary_factor', 'rotary_pct'], defaultPartial));
  const rotaryDim = Math.floor(headDim * partial);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) throw new ConfigError(`${cfg.file}: head_dim ${headDim} × partial_rotary_factor ${partial} = ${rotaryDim} rotary dims; expected an even number ≥ 2`);
  const maxPositions = cfg.int('max_position_embeddings');
  const original = () => num('original_max_position_embeddings', maxPositions);
  const optional = (name: string) => (params[name] === undefined || params[name] === null ? undefined : num(name));
  let scaling: RopeScaling;
  switch (kind) {
    case 'default':
      scaling = { kind };
      break;
    case 'linear':
      scaling = { kind, factor: num('factor') };
      break;
    case 'dynamic':
      scaling = { kind, factor: num('factor'), maxPositions };
      break;
    case 'llama3':
      scaling = { kind, factor: num('factor'), lowFreqFactor: num('low_freq_factor'), highFreqFactor: num('high_freq_factor'), originalMaxPositions: original() };
      break;
    default: {
      const originalMaxPositions = original();
      scaling = {
        kind: 'yarn', factor: optional('factor') ?? maxPositions / originalMaxPositions, originalMaxPositions,
        betaFast: optional('beta_fast') || 32, betaSlow: optional('beta_slow') || 1, truncate: params.truncate !== false,
        attentionFactor: optional('attention_factor'), mscale: optional('mscale'), mscaleAllDim: optional('mscale_all_dim'),
      };
    }
  }
  return Object.freeze({ theta, rotaryDim, scaling });
}
