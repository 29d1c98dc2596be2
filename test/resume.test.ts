import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { fixture } from './helpers/fixtures.js';
import { cli, cliProcess, tempDir, writePipeline } from './helpers/cli.js';

/** A corpus long enough that a run takes a few seconds, so kills land mid-job. */
function corpus(dir: string): void {
  const words = ['attention', 'query', 'key', 'value', 'softmax', 'head', 'layer', 'token', 'Beijing', 'Games', 'encoder', 'decoder', '北京', 'ünïcödé'];
  const lines = Array.from({ length: 4000 }, (_, i) => Array.from({ length: 3 + ((i * 7) % 23) }, (_, j) => words[(i * 31 + j * 17) % words.length]).join(' '));
  lines[100] = ''; // one dead letter, to check it is not duplicated either
  writeFileSync(join(dir, 'in.txt'), `${lines.join('\n')}\n`);
}

function setup(sinkType: 'jsonl' | 'arrow') {
  const dir = tempDir();
  corpus(dir);
  const ext = sinkType === 'arrow' ? 'arrow' : 'jsonl';
  const make = (name: string) => writePipeline(dir, `${name}.yaml`, `model: ${fixture('bert')}\ntask: embed\nsource: { type: text, path: in.txt }\nbatching: { batchSize: 16, bucketWindow: 64 }\nsink: { type: ${sinkType}, path: ${name}.${ext} }\nworkers: 2\n`);
  return { dir, ext, reference: make('reference'), interrupted: make('interrupted') };
}

async function runUntilKilled(args: string[], afterMs: number, signal: NodeJS.Signals): Promise<number | null> {
  const child = cliProcess(args);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill(signal), afterMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  if (code !== null && code !== 0 && code !== 3 && code !== 130) throw new Error(`attnflow exited ${code}: ${stderr}`);
  return code as number | null;
}

/**
 * Starts `attnflow run` again and again, sending `signal` each time at a random point of a run's duration (start-up
 * included, so signals land anywhere), until `done` accepts an exit code or attempts run out. The duration is the
 * uninterrupted run's at first; a run that ends before its signal (the machine got faster) gives a new, shorter one.
 * `args` sees every signal sent so far. Returns the last exit code and every signal's delay with the exit code it
 * led to (null: killed by it).
 */
async function signalAtRandomPoints(o: {
  args: (sent: { delay: number; code: number | null }[]) => string[]; signal: NodeJS.Signals; duration: number; attempts: number;
  done: (code: number | null, sent: { delay: number; code: number | null }[]) => boolean;
}) {
  const sent: { delay: number; code: number | null }[] = [];
  let code: number | null = null;
  let duration = o.duration;
  for (let attempt = 0; attempt < o.attempts && !o.done(code, sent); attempt++) {
    const delay = Math.floor(duration * (0.15 + 0.7 * Math.random()));
    const t0 = performance.now();
    code = await runUntilKilled(o.args(sent), delay, o.signal);
    if (code !== null) duration = Math.min(duration, performance.now() - t0);
    sent.push({ delay, code });
  }
  return { code, sent };
}

describe('kill and resume', () => {
  for (const sinkType of ['jsonl', 'arrow'] as const) {
    it(`SIGKILL at random points, then --resume: ${sinkType} output byte-identical to an uninterrupted run`, async () => {
      const s = setup(sinkType);
      const t0 = performance.now();
      expect(cli(['run', s.reference, '--no-progress']).code).toBe(3);
      const duration = performance.now() - t0;
      // until a kill has landed, every run starts afresh (a run that finished first proves nothing)
      const killed = (sent: { code: number | null }[]) => sent.some((x) => x.code === null);
      const { code, sent } = await signalAtRandomPoints({
        args: (sent) => ['run', s.interrupted, '--no-progress', killed(sent) ? '--resume' : '--overwrite'], signal: 'SIGKILL', duration, attempts: 25,
        done: (c, sent) => c === 3 && killed(sent),
      });
      const kills = sent.filter((x) => x.code === null).map((x) => x.delay);
      expect(code, `kills at ${kills.join(', ')} ms`).toBe(3);
      expect(kills.length, 'at least one kill landed mid-job').toBeGreaterThan(0);
      expect(readFileSync(join(s.dir, `interrupted.${s.ext}`)).equals(readFileSync(join(s.dir, `reference.${s.ext}`))), `kills at ${kills.join(', ')} ms`).toBe(true);
      expect(readFileSync(join(s.dir, `interrupted.${s.ext}.dead-letter.jsonl`)).equals(readFileSync(join(s.dir, `reference.${s.ext}.dead-letter.jsonl`)))).toBe(true);
      expect(existsSync(join(s.dir, `interrupted.${s.ext}.checkpoint.json`))).toBe(false);
    }, 180_000);
  }

  // The Ctrl-C test below resumes JSONL; this one resumes Arrow.
  it('SIGTERM (what kill, timeout and Kubernetes send) at a random point stops like Ctrl-C: exit 130, and --resume gives byte-identical Arrow output', async () => {
    const s = setup('arrow');
    const t0 = performance.now();
    expect(cli(['run', s.reference, '--no-progress']).code).toBe(3);
    const duration = performance.now() - t0;
    // A SIGTERM before the CLI has set up its handler kills it outright, one after the job ends is too late:
    // try random points until one lands mid-job.
    const { code, sent } = await signalAtRandomPoints({ args: () => ['run', s.interrupted, '--no-progress', '--overwrite'], signal: 'SIGTERM', duration, attempts: 10, done: (c) => c === 130 });
    expect(code, `SIGTERM at ${sent.map((x) => `${x.delay} ms (exit ${x.code})`).join(', ')}`).toBe(130);
    const checkpoint = join(s.dir, `interrupted.${s.ext}.checkpoint.json`);
    expect(JSON.parse(readFileSync(checkpoint, 'utf8')).committed).toBeLessThan(4000);
    const resumed = cli(['run', s.interrupted, '--no-progress', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(3);
    expect(readFileSync(join(s.dir, `interrupted.${s.ext}`)).equals(readFileSync(join(s.dir, `reference.${s.ext}`))), `SIGTERM at ${sent.at(-1)!.delay} ms`).toBe(true);
    expect(readFileSync(join(s.dir, `interrupted.${s.ext}.dead-letter.jsonl`)).equals(readFileSync(join(s.dir, `reference.${s.ext}.dead-letter.jsonl`)))).toBe(true);
    expect(existsSync(checkpoint)).toBe(false);
  }, 180_000);

  it('Ctrl-C stops cleanly: checkpoint written, exit 130, and --resume finishes the same output', async () => {
    const s = setup('jsonl');
    expect(cli(['run', s.reference, '--no-progress']).code).toBe(3);
    const t0 = performance.now();
    expect(cli(['run', s.reference, '--no-progress', '--overwrite']).code).toBe(3);
    const code = await runUntilKilled(['run', s.interrupted, '--no-progress'], Math.floor((performance.now() - t0) * 0.6), 'SIGINT');
    expect(code).toBe(130);
    const ck = JSON.parse(readFileSync(join(s.dir, 'interrupted.jsonl.checkpoint.json'), 'utf8'));
    expect(ck.committed).toBeGreaterThan(0);
    expect(ck.committed).toBeLessThan(4000);
    expect(cli(['run', s.interrupted, '--no-progress', '--resume']).code).toBe(3);
    expect(readFileSync(join(s.dir, 'interrupted.jsonl')).equals(readFileSync(join(s.dir, 'reference.jsonl')))).toBe(true);
  }, 120_000);

  it('--resume after a run finished (a kill while it exits leaves no checkpoint) reports it complete and changes nothing', async () => {
    for (const sinkType of ['jsonl', 'arrow'] as const) {
      const s = setup(sinkType);
      expect(cli(['run', s.reference, '--no-progress']).code).toBe(3);
      const before = readFileSync(join(s.dir, `reference.${s.ext}`));
      const again = cli(['run', s.reference, '--no-progress', '--resume']);
      expect(again.code, again.stderr).toBe(3); // the finished run's dead letter still counts
      expect(again.stderr).toContain(`nothing to resume: ${join(s.dir, `reference.${s.ext}`)} is already complete (3999 records, 1 dead-lettered`);
      expect(readFileSync(join(s.dir, `reference.${s.ext}`)).equals(before)).toBe(true);
    }
  }, 120_000);

  it('--resume refuses a checkpoint written by a different pipeline', async () => {
    const s = setup('jsonl');
    // killed once its checkpoint exists (a fixed delay could land before start-up ends on a loaded machine)
    const child = cliProcess(['run', s.interrupted, '--no-progress']);
    const checkpoint = join(s.dir, 'interrupted.jsonl.checkpoint.json');
    while (!existsSync(checkpoint) && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await once(child, 'exit');
    const text = readFileSync(s.interrupted, 'utf8').replace('batchSize: 16', 'batchSize: 8');
    writeFileSync(s.interrupted, text.replace('task: embed', 'task: embed\nstages: { head: { normalize: false } }'));
    expect(existsSync(join(s.dir, 'interrupted.jsonl.checkpoint.json'))).toBe(true);
    const r = cli(['run', s.interrupted, '--no-progress', '--resume']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/written by a run with another pipeline/);
  }, 60_000);
});
