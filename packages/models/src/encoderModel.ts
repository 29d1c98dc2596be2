/**
 * Every encoder-only architecture through one forward pass: embeddings → projection → layers → head. Which parts
 * a checkpoint has, and how they are named, is its architecture file's business (see encoder.ts).
 */
import { Checkpoint, Weights } from '@attnflow/checkpoint';
import { weightsOptions, type LoadOptions } from './dtype.js';
import { loadOwned } from './owned.js';
import { embed, paddingPositions, rangePositions } from '@attnflow/embedding';
import { Activation, sharedEngine, type Engine } from '@attnflow/kernels';
import { runLinear, runNorm } from '@attnflow/layers';
import { clsPool, meanPool } from '@attnflow/head';
import { Scope, type Tensor } from '@attnflow/tensor';
import { ALBERT } from './albert.js';
import { BERT, ROBERTA } from './bert.js';
import { ConfigError, ConfigReader } from './config.js';
import { DEBERTA_V2 } from './deberta.js';
import { DISTILBERT } from './distilbert.js';
import { ELECTRA } from './electra.js';
import type { ClassifierHead, EncoderArchitecture, EncoderRecipe, EncoderWeights, PositionIds } from './encoder.js';
import { MODERNBERT } from './modernbert.js';
import { MPNET } from './mpnet.js';

export const ENCODERS: readonly EncoderArchitecture[] = [BERT, ROBERTA, DISTILBERT, ELECTRA, ALBERT, MPNET, DEBERTA_V2, MODERNBERT];
export const ENCODER_ARCHITECTURES = ENCODERS.flatMap((a) => Object.keys(a.classes));

export interface EncoderInputs {
  batch: number;
  length: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds?: Int32Array;
}

export interface ForwardOptions {
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

/** Plain arrays, row-major; `logits` is (batch, numLabels), (batch, length, numLabels|vocab) or (batch, length, 2). */
export interface EncoderResult {
  batch: number;
  length: number;
  hiddenSize: number;
  lastHiddenState: Float32Array;
  hiddenStates?: Float32Array[];
  attentions?: Float32Array[];
  pooled?: Float32Array;
  logits?: Float32Array;
}

/** The architecture a config.json names, with the head of its class. */
function architectureOf(cfg: ConfigReader): { architecture: EncoderArchitecture; className: string } {
  const className = cfg.architecture;
  const byClass = className === undefined ? undefined : ENCODERS.find((a) => className in a.classes);
  if (byClass) return { architecture: byClass, className: className! };
  if (className === undefined) {
    const type = cfg.str('model_type', '');
    const byType = ENCODERS.find((a) => a.modelTypes.includes(type));
    if (byType) return { architecture: byType, className: Object.keys(byType.classes)[0] };
  }
  throw new ConfigError(`${cfg.file}: architecture "${className ?? cfg.str('model_type', '')}" is not an encoder attnflow supports (supported: ${ENCODER_ARCHITECTURES.join(', ')})`);
}

export class EncoderModel {
  private constructor(
    readonly recipe: EncoderRecipe,
    readonly weights: EncoderWeights,
    readonly engine: Engine,
    private readonly owned: Tensor[],
  ) {}

  static load(dir: string, engine: Engine = sharedEngine(), cfg: ConfigReader = ConfigReader.read(dir), options: LoadOptions = {}): EncoderModel {
    const { architecture, className } = architectureOf(cfg);
    return loadOwned(engine.arena, (owned) => {
      const root = Weights.from(Checkpoint.open(dir, engine.arena), weightsOptions(options, 'encoder'));
      const { recipe, weights } = architecture.load(cfg, architecture.classes[className], root, engine.arena);
      root.finish();
      return new EncoderModel(recipe, weights, engine, owned);
    });
  }

  /** One padded batch through embeddings, encoder and head. */
  async forward(inputs: EncoderInputs, options: ForwardOptions = {}): Promise<EncoderResult> {
    const r = this.recipe;
    const w = this.weights;
    const { batch, length } = inputs;
    const H = r.hiddenSize;
    const engine = this.engine;
    const scope = new Scope(engine.arena);
    try {
      let x = await embed(engine, scope, w.embeddings, r.embedding, inputs.inputIds, positionIds(r.positionIds, inputs), inputs.tokenTypeIds);
      if (w.projection) x = await runLinear(engine, scope, x, w.projection);
      if (w.projectionNorm) await runNorm(engine, scope, x, w.projectionNorm, undefined, x);
      if (w.maskEmbeddings) {
        for (let t = 0; t < batch * length; t++) if (!inputs.attentionMask[t]) x.data.fill(0, t * H, (t + 1) * H);
      }
      const keyMask = scope.i32(inputs.attentionMask, [batch, length]);
      const out = await w.layers(engine, scope, x, { batch, length, mask: inputs.attentionMask, keyMask }, options);
      const h = out.hidden;
      const result: EncoderResult = {
        batch, length, hiddenSize: H,
        lastHiddenState: h.toArray() as Float32Array,
        hiddenStates: out.hiddenStates?.map((t) => t.toArray() as Float32Array),
        attentions: out.attentions?.map((t) => t.toArray() as Float32Array),
      };
      const heads = w.heads;
      const rows = (values: Float32Array) => {
        const t = scope.f32([batch, H]);
        t.data.set(values);
        return t;
      };
      const cls = rows(clsPool(h.data, batch, length, H));
      if (heads.pooler) result.pooled = (await runLinear(engine, scope, cls, heads.pooler, { activation: Activation.tanh })).toArray() as Float32Array;
      if (heads.sequence) {
        const pooled = heads.sequence.pooling === 'mean' ? rows(meanPool(h.data, inputs.attentionMask, batch, length, H)) : cls;
        result.logits = await classify(engine, scope, pooled, heads.sequence);
      } else if (heads.tokens) result.logits = await classify(engine, scope, h, heads.tokens);
      else if (heads.mlm) result.logits = await classify(engine, scope, h, { ...heads.mlm, out: heads.mlm.decoder });
      return result;
    } finally {
      scope.dispose();
    }
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
  }
}

async function classify(engine: Engine, scope: Scope, x: Tensor<'float32'>, head: ClassifierHead): Promise<Float32Array> {
  const features = head.dense ? await runLinear(engine, scope, x, head.dense, { activation: head.activation }) : x;
  if (head.norm) await runNorm(engine, scope, features, head.norm, undefined, features);
  return (await runLinear(engine, scope, features, head.out)).toArray() as Float32Array;
}

/** Row indices into the position table for each token of the batch. */
function positionIds(kind: PositionIds, inputs: EncoderInputs): Int32Array | undefined {
  if (kind.kind === 'none') return undefined;
  if (kind.kind === 'range') return rangePositions(inputs.batch, inputs.length);
  return paddingPositions(inputs.inputIds, inputs.batch, inputs.length, kind.paddingIdx);
}
