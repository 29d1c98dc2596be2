/**
 * The `SelfAttention` module of the document attnflow implements, run exactly as written, as a setting of
 * attnflow's own attention parts (same kernels, same worker pool):
 *   - one head_dim × head_dim projection (`queries`, `keys`, `values`, no bias) applied to every head's slice:
 *     the linear kernel over (N·len·heads, head_dim) rows;
 *   - scores divided by √embed_size, not √head_dim: the attention recipe's `scale`;
 *   - masked scores set to -1e20 before that division: `maskFill` = -1e20 / √embed_size;
 *   - `fc_out` (with bias) over the concatenated heads.
 */
import { Checkpoint, Weights } from '@attnflow/checkpoint';
import { sharedEngine, type Engine } from '@attnflow/kernels';
import { attend, loadLinear, runLinear, type AttentionRecipe, type Linear } from '@attnflow/layers';
import { Scope, type Tensor } from '@attnflow/tensor';
import { ConfigError } from './config.js';

export interface SelfAttentionModuleConfig {
  embedSize: number;
  heads: number;
}

export interface SelfAttentionMasks {
  /** (N, keyLen): 0 = masked key (padding). */
  padding?: Int32Array;
  /** Lower-triangular mask: query i sees keys ≤ i. */
  causal?: boolean;
}

export class SelfAttentionModule {
  readonly headDim: number;
  readonly recipe: AttentionRecipe;

  private constructor(
    readonly config: SelfAttentionModuleConfig,
    readonly queries: Linear,
    readonly keys: Linear,
    readonly values: Linear,
    readonly fcOut: Linear,
    readonly engine: Engine,
    private readonly owned: Tensor[],
  ) {
    this.headDim = config.embedSize / config.heads;
    const scale = 1 / Math.sqrt(config.embedSize);
    this.recipe = { numHeads: config.heads, headDim: this.headDim, scale, maskFill: -1e20 * scale };
  }

  /** Loads the module's state_dict (`queries`/`keys`/`values`/`fc_out`) from a .safetensors file. */
  static load(file: string, config: SelfAttentionModuleConfig, engine: Engine = sharedEngine()): SelfAttentionModule {
    const { embedSize, heads } = config;
    if (!Number.isInteger(embedSize) || !Number.isInteger(heads) || heads < 1 || embedSize % heads !== 0) {
      throw new ConfigError(`embed size (${embedSize}) must be divisible by the number of heads (${heads})`);
    }
    const d = embedSize / heads;
    const w = Weights.from(Checkpoint.openFile(file, engine.arena));
    const m = new SelfAttentionModule(
      config,
      loadLinear(w.scope('queries'), d, d, { bias: false }),
      loadLinear(w.scope('keys'), d, d, { bias: false }),
      loadLinear(w.scope('values'), d, d, { bias: false }),
      loadLinear(w.scope('fc_out'), embedSize, embedSize),
      engine,
      [],
    );
    m.owned.push(...w.finish());
    return m;
  }

  /**
   * values, keys, query (N, len, embed) -> output (N, qLen, embed) and attention (N, heads, qLen, kLen).
   * Lengths: keys and values share kLen.
   */
  async forward(values: Float32Array, keys: Float32Array, query: Float32Array, N: number, qLen: number, kLen: number, masks: SelfAttentionMasks = {}): Promise<{ output: Float32Array; attention: Float32Array }> {
    const E = this.config.embedSize;
    const H = this.config.heads;
    const scope = new Scope(this.engine.arena);
    try {
      // (N, len, heads, head_dim) viewed as rows of head_dim: one shared projection for every head.
      const project = async (x: Float32Array, len: number, layer: Linear) => {
        const t = scope.f32([N * len * H, this.headDim]);
        t.data.set(x);
        return runLinear(this.engine, scope, t, layer);
      };
      const v = await project(values, kLen, this.values);
      const k = await project(keys, kLen, this.keys);
      const q = await project(query, qLen, this.queries);
      const context = scope.f32([N * qLen, E]);
      const probs = scope.f32([N, H, qLen, kLen]);
      const keyMask = masks.padding ? scope.i32(masks.padding, [N, kLen]) : undefined;
      await attend(this.engine, context, q.ref, k.ref, v.ref, { qRowStride: E, kvRowStride: E, kvBatchStride: kLen * E, kLen }, this.recipe, {
        batch: N, length: qLen, keyMask, causal: masks.causal, probs,
      });
      const out = await runLinear(this.engine, scope, context, this.fcOut);
      return { output: out.toArray() as Float32Array, attention: probs.toArray() as Float32Array };
    } finally {
      scope.dispose();
    }
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
  }
}
