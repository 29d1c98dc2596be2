import { Engine } from '@attnflow/kernels';
import { loadModel, type LoadedModel } from '@attnflow/models';
import { from, type Observable } from 'rxjs';
import { runJob, type JobConfig, type JobSummary, type RunOptions } from './job.js';
import { runTask, type TaskResult } from './operators.js';
import { jobFromSpec, pipelineBaseDir, readPipelineFile, validatePipeline, type PipelineSpec } from './pipelineFile.js';
import { readSource } from './sources.js';

/**
 * A model loaded on first use, as `dtype` (default fp32), on its own worker pool of `workers` threads (default: the
 * number of cores).
 */
export class PooledModel {
  private loaded?: { engine: Engine; model: LoadedModel };

  constructor(readonly dir: string, readonly settings: () => Pick<PipelineSpec, 'workers' | 'dtype'>) {}

  get(): LoadedModel {
    if (!this.loaded) {
      const { workers, dtype } = this.settings();
      const engine = new Engine({ workers });
      this.loaded = { engine, model: loadModel(this.dir, engine, { dtype }) };
    }
    return this.loaded.model;
  }

  /** Frees the weights and stops the pool's threads. */
  async close(): Promise<void> {
    if (!this.loaded) return;
    this.loaded.model.model.dispose();
    await this.loaded.engine.close();
    this.loaded = undefined;
  }
}

/** A validated pipeline, ready to run as a resumable job or to consume as an Observable. */
export class Pipeline {
  private readonly pooled: PooledModel;

  constructor(readonly spec: PipelineSpec, readonly job: JobConfig) {
    // `spec.workers` and `spec.dtype` are read when the model is first needed, so CLI flags may still change them.
    this.pooled = new PooledModel(job.model, () => spec);
  }

  /** The model, loaded once on a worker pool of `spec.workers` threads (default: the number of cores). */
  model(): LoadedModel {
    return this.pooled.get();
  }

  /** Runs the pipeline into its sink (resume, shard, progress and Ctrl-C handling in `options`). */
  run(options: RunOptions = {}): Promise<JobSummary> {
    return runJob(this.model(), this.job, options);
  }

  /** Results as an Observable, in input order, without writing the sink (bad records are skipped). */
  results(): Observable<TaskResult> {
    const source = (async function* (job: JobConfig) {
      for await (const r of readSource(job.source)) if (!r.error) yield { index: r.index, text: r.text, pair: r.pair, messages: r.messages, source: { file: r.file, line: r.line } };
    })(this.job);
    return from(source).pipe(runTask(this.model(), this.job.task, this.job.options, this.job.batching));
  }

  close(): Promise<void> {
    return this.pooled.close();
  }
}

/** A pipeline from a YAML file; relative paths in it are relative to the file. */
export function pipelineFromFile(file: string): Pipeline {
  const spec = readPipelineFile(file);
  return new Pipeline(spec, jobFromSpec(spec, pipelineBaseDir(file)));
}

/** A pipeline from an object of the same shape as the file; relative paths resolve against baseDir. */
export function pipelineFromObject(spec: unknown, baseDir = process.cwd()): Pipeline {
  const valid = validatePipeline(spec);
  return new Pipeline(valid, jobFromSpec(valid, baseDir));
}
