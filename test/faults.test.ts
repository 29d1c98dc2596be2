/**
 * The fault suite of issue 17 ("Nothing lost, nothing invented"): each numbered finding of the probe, reproduced,
 * and the behaviour now — refused with a message that names the file (and field), or completed with output
 * byte-identical to an uninterrupted run. No case may exit 0 over output that differs from one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { makeData, makeVector, Table, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import { closeSharedEngine } from '@attnflow/kernels';
import { loadModel, type LoadedModel } from '@attnflow/models';
import { readSource, runJob, type JobConfig, type SinkConfig } from '@attnflow/pipeline';
import { OutputLock } from '@attnflow/pipeline/job/lock';
import { Tokenizer } from '@attnflow/tokenizer';
import { readSafetensorsHeader } from '@attnflow/checkpoint';
import { fixture, readJson } from './helpers/fixtures.js';
import { CLI, ROOT, cli, tempDir, writePipeline } from './helpers/cli.js';

afterAll(() => closeSharedEngine());

const WORDS = ['attention', 'query', 'key', 'value', 'softmax', 'Beijing', 'Games', '北京', 'ünïcödé', 'layer', 'token'];
const corpusLines = (n: number) => Array.from({ length: n }, (_, i) => Array.from({ length: 2 + ((i * 7) % 13) }, (_, j) => WORDS[(i * 31 + j * 17) % WORDS.length]).join(' '));

let bert: LoadedModel | undefined;
const model = () => (bert ??= loadModel(fixture('bert')));

const MTIME = 1_700_000_000;

/** A job over `in.txt` of dir into `name` (jsonl or arrow). */
function job(dir: string, name: string, sink: Partial<SinkConfig> = {}): JobConfig {
  return {
    model: fixture('bert'), task: 'embed', options: { tokenizer: {}, decoder: {}, head: {} }, batching: { batchSize: 4, bucketWindow: 8 },
    source: { type: 'text', path: join(dir, 'in.txt') },
    sink: { type: name.endsWith('.arrow') ? 'arrow' : 'jsonl', path: join(dir, name), ...sink },
  };
}

/** An uninterrupted reference run and a run stopped (as by Ctrl-C) after some chunks, with its checkpoint. */
async function stopped(ext: 'jsonl' | 'arrow') {
  const dir = tempDir();
  const lines = corpusLines(300);
  lines[20] = ''; // a dead letter too
  writeFileSync(join(dir, 'in.txt'), `${lines.join('\n')}\n`);
  utimesSync(join(dir, 'in.txt'), MTIME, MTIME); // a time a test can set again exactly
  const reference = job(dir, `reference.${ext}`);
  await runJob(model(), reference, { progress: false, chunkSize: 8 });
  const interrupted = job(dir, `out.${ext}`);
  const stop = new AbortController();
  const summary = await runJob(model(), interrupted, { chunkSize: 8, signal: stop.signal, progress: { update: (s) => s.records >= 40 && stop.abort(), done: () => {} } });
  expect(summary.interrupted).toBe(true);
  const out = join(dir, `out.${ext}`);
  const checkpoint = `${out}.checkpoint.json`;
  expect(existsSync(checkpoint)).toBe(true);
  const ck = JSON.parse(readFileSync(checkpoint, 'utf8'));
  expect(ck.committed).toBeGreaterThan(0);
  expect(ck.committed).toBeLessThan(lines.length);
  const resume = () => runJob(model(), interrupted, { resume: true, progress: false, chunkSize: 8 });
  const sameAsReference = () => readFileSync(out).equals(readFileSync(join(dir, `reference.${ext}`)));
  return { dir, out, checkpoint, ck, resume, sameAsReference };
}

/** Rewrites a checkpoint's field and its checksum, as a consistent forgery would. */
function forge(checkpoint: string, patch: Record<string, unknown>): void {
  const ck = { ...JSON.parse(readFileSync(checkpoint, 'utf8')), ...patch };
  ck.sum = createHash('sha256').update(JSON.stringify({ ...ck, sum: undefined })).digest('hex');
  writeFileSync(checkpoint, JSON.stringify(ck));
}

describe('1. --resume verifies the output, the inputs and the checkpoint before it writes', () => {
  it('an untouched stop resumes to the uninterrupted output (and cuts bytes written after the last checkpoint)', async () => {
    const s = await stopped('jsonl');
    writeFileSync(s.out, '{"torn": tr', { flag: 'a' }); // what a kill between write and checkpoint leaves
    await s.resume();
    expect(s.sameAsReference()).toBe(true);
  });

  it('a truncated output is refused, never padded with zeros', async () => {
    const s = await stopped('jsonl');
    truncateSync(s.out, Math.floor(s.ck.output.bytes / 2));
    await expect(s.resume()).rejects.toThrow(new RegExp(`${s.out}: \\d+ bytes, shorter than the ${s.ck.output.bytes} bytes committed to it .*never pads`));
    expect(statSync(s.out).size).toBe(Math.floor(s.ck.output.bytes / 2));
    expect(readFileSync(s.out).includes(0)).toBe(false);
  });

  it('a deleted output, or one changed inside its committed part, is refused', async () => {
    const s = await stopped('jsonl');
    const bytes = readFileSync(s.out);
    rmSync(s.out);
    await expect(s.resume()).rejects.toThrow(`${s.out}: missing, but ${s.checkpoint} says ${s.ck.ok} records`);
    bytes[10] ^= 1;
    writeFileSync(s.out, bytes);
    await expect(s.resume()).rejects.toThrow(`${s.out}: its first ${s.ck.output.bytes} bytes are not what the run committed`);
  });

  it('a checkpoint whose counts were edited (too high, too low, or re-checksummed) is refused', async () => {
    const s = await stopped('jsonl');
    const original = readFileSync(s.checkpoint, 'utf8');
    for (const committed of [s.ck.committed + 1000, s.ck.committed - 5]) {
      writeFileSync(s.checkpoint, original.replace(`"committed":${s.ck.committed}`, `"committed":${committed}`));
      await expect(s.resume()).rejects.toThrow(`${s.checkpoint}: the checkpoint's checksum does not match its content`);
    }
    forge(s.checkpoint, { committed: s.ck.committed + 8, ok: s.ck.ok + 8 });
    await expect(s.resume()).rejects.toThrow(`${s.checkpoint}: says ${s.ck.ok + 8} records are in ${s.out}, but its committed part has ${s.ck.ok} lines`);
    writeFileSync(s.checkpoint, original);
    await s.resume();
    expect(s.sameAsReference()).toBe(true);
  });

  it('an input edited between runs is refused: by size and time, and by content when those are kept', async () => {
    const s = await stopped('jsonl');
    const input = join(s.dir, 'in.txt');
    const text = readFileSync(input, 'utf8');
    const output = readFileSync(s.out);
    writeFileSync(input, `${text}one more line\n`);
    await expect(s.resume()).rejects.toThrow(new RegExp(`in\\.txt: changed since the stopped run read it \\(size ${Buffer.byteLength(text)} → \\d+ bytes`));
    writeFileSync(input, text.replace('attention', 'attentioN')); // same size, same time: only the content tells
    utimesSync(input, MTIME, MTIME);
    await expect(s.resume()).rejects.toThrow(`the source's first ${s.ck.committed} records differ from those the stopped run read (per ${s.checkpoint})`);
    expect(readFileSync(s.out).equals(output)).toBe(true);
    expect(readFileSync(s.checkpoint, 'utf8')).toContain(`"committed":${s.ck.committed}`);
  });

  it('a corrupt checkpoint is refused naming its file', async () => {
    const s = await stopped('jsonl');
    writeFileSync(s.checkpoint, '{"version": 2, "committ');
    await expect(s.resume()).rejects.toThrow(`${s.checkpoint}: the checkpoint cannot be read`);
  });

  it('Arrow: a deleted or changed part is refused before anything is recomputed, leaving no .tmp', async () => {
    const s = await stopped('arrow');
    const parts = `${s.out}.parts`;
    const first = join(parts, readdirSync(parts).sort()[0]);
    const bytes = readFileSync(first);
    rmSync(first);
    await expect(s.resume()).rejects.toThrow(`${first}: missing, but ${s.checkpoint} says ${s.ck.parts.count} parts were committed`);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(first, bytes);
    await expect(s.resume()).rejects.toThrow(`${parts}: the committed parts are not what the run wrote`);
    expect(existsSync(`${s.out}.tmp`)).toBe(false);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(first, bytes);
    await s.resume();
    expect(s.sameAsReference()).toBe(true);
  });
});

describe('2. one long record costs about what a normal one does', () => {
  const suites: [string, string][] = [['bert', fixture('bert', 'tokenizer.json')], ['gpt2', fixture('gpt2', 'tokenizer.json')], ['t5', fixture('t5', 'tokenizer.json')], ['bart', fixture('bart', 'tokenizer.json')], ['marian', fixture('marian', 'tokenizer.json')], ['unigram', fixture('tokenizers', 'unigram-trained', 'tokenizer.json')]];
  it.each(suites)('%s: maxLength cuts a long text to exactly the tokens the whole text begins with', (name, file) => {
    const tok = Tokenizer.fromFile(file);
    const special = tok.addedTokens.map((t) => t.content);
    const pieces = [...WORDS, 'ça', '🙂', 'x'.repeat(150), ' ', '  ', '\n', ',', '...', "it's", '12345', ...special];
    const config = readJson(name === 'unigram' ? 't5' : name, 'config.json');
    const positions = config.max_position_embeddings ?? config.n_positions ?? 512;
    for (let seed = 1; seed <= 2; seed++) {
      let x = seed;
      const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
      const text = Array.from({ length: 6_000 }, () => pieces[Math.floor(rand() * pieces.length)]).join(rand() < 0.5 ? ' ' : '');
      const whole = tok.encode(text, undefined, { addSpecialTokens: false });
      for (const maxLength of [7, positions]) {
        const cut = tok.encode(text, undefined, { maxLength, addSpecialTokens: false });
        expect(cut.ids, `${name} seed ${seed} maxLength ${maxLength}`).toEqual(whole.ids.slice(0, maxLength));
        expect(cut.offsets).toEqual(whole.offsets.slice(0, maxLength));
      }
    }
  });

  it('a 40 MB line: peak RSS under 400 MB, and the same output as the line cut to what maxLength needs', () => {
    const dir = tempDir();
    const unit = `${corpusLines(1000).join(' ')} `;
    const long = unit.repeat(Math.ceil(40_000_000 / unit.length)).slice(0, 40_000_000);
    writeFileSync(join(dir, 'in.txt'), `short one\n${long}\nafter it\n`);
    writeFileSync(join(dir, 'cut.txt'), `short one\n${long.slice(0, 20_000)}\nafter it\n`);
    const p = (input: string, output: string) => writePipeline(dir, `${output}.yaml`, `model: ${fixture('bert')}\ntask: embed\nsource: { type: text, path: ${input} }\nsink: { type: jsonl, path: ${output} }\n`);
    const run = spawnSync(process.execPath, ['--require', join(ROOT, 'test', 'helpers', 'maxrss.cjs'), CLI, 'run', p('in.txt', 'out.jsonl'), '--no-progress'], { encoding: 'utf8', cwd: dir });
    expect(run.status, run.stderr).toBe(0);
    const rssKb = Number(/maxrss-kb (\d+)/.exec(run.stderr)![1]);
    expect(rssKb / 1024).toBeLessThan(400);
    expect(cli(['run', p('cut.txt', 'cut.jsonl'), '--no-progress'], { cwd: dir }).code).toBe(0);
    const lines = (f: string) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => ({ ...JSON.parse(l), file: undefined, text: undefined }));
    expect(lines('out.jsonl')).toEqual(lines('cut.jsonl'));
  }, 240_000);
});

/** A copy of a fixture model with some files changed. */
function corrupted(name: string, change: (dir: string) => void): string {
  const dir = join(tempDir(), name);
  cpSync(fixture(name), dir, { recursive: true });
  change(dir);
  return dir;
}
const patchJson = (file: string, patch: (json: any) => void) => {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  patch(json);
  writeFileSync(file, JSON.stringify(json));
};

describe('3. a config asking for more than the weights hold fails at once', () => {
  it('num_hidden_layers: 1e9 stops after the first problems; a size beyond every tensor is not allocated', () => {
    const layers = corrupted('bert', (d) => patchJson(join(d, 'config.json'), (c) => (c.num_hidden_layers = 1e9)));
    let message = '';
    expect(() => loadModel(layers)).toThrow();
    try {
      loadModel(layers);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/missing tensor "encoder\.layer\.\d+\./);
    expect(message).toMatch(/stopped after \d+ problems/);
    expect(message.split('\n').length).toBeLessThan(30);
    const wide = corrupted('bert', (d) => patchJson(join(d, 'config.json'), (c) => (c.intermediate_size = 1e9)));
    expect(() => loadModel(wide)).toThrow(/larger than any in the checkpoint/);
  });
});

describe('4. one writer per output', () => {
  it('a second run on the same output refuses at once, naming the holder; a dead run\'s lock is taken over', async () => {
    const dir = tempDir();
    const lines = `${corpusLines(3000).join('\n')}\n`;
    // The first run reads a stdin that stays open, so it holds the output however fast the machine is.
    const p = writePipeline(dir, 'p.yaml', `model: ${fixture('bert')}\ntask: embed\nsource: { type: stdin }\nsink: { type: jsonl, path: out.jsonl }\nworkers: 1\n`);
    const first = spawn(process.execPath, [CLI, 'run', p, '--no-progress'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    first.stdin.write(lines.slice(0, 1000));
    const lock = join(dir, 'out.jsonl.lock');
    while (!existsSync(lock) && first.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    const second = cli(['run', p, '--no-progress'], { input: lines });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`out.jsonl is being written by another run (pid ${first.pid} on ${hostname()}`);
    first.kill('SIGKILL');
    await once(first, 'exit');
    expect(existsSync(lock)).toBe(true); // a SIGKILLed run cannot remove it …
    const third = cli(['run', p, '--no-progress', '--overwrite'], { input: lines });
    expect(third.code, third.stderr).toBe(0); // … and its dead pid lets the next run take over
    expect(existsSync(lock)).toBe(false);
    expect(readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').length).toBe(3000);
  }, 240_000);

  it('a lock from another host is never broken; one process cannot take a lock twice', () => {
    const dir = tempDir();
    const output = join(dir, 'out.jsonl');
    writeFileSync(`${output}.lock`, JSON.stringify({ pid: 1, host: 'elsewhere', since: '2026-01-01T00:00:00Z', token: 'x' }));
    expect(() => OutputLock.acquire(output)).toThrow(`is being written by another run (pid 1 on elsewhere, since 2026-01-01T00:00:00Z); wait for it to end, or if it is gone, delete ${output}.lock`);
    rmSync(`${output}.lock`);
    const held = OutputLock.acquire(output);
    expect(() => OutputLock.acquire(output)).toThrow(`pid ${process.pid} on ${hostname()}`);
    held.release();
    expect(existsSync(`${output}.lock`)).toBe(false);
  });
});

describe('5. source = sink', () => {
  it('is refused before anything is opened, even with --overwrite', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), 'one\ntwo\n');
    const p = writePipeline(dir, 'p.yaml', `model: ${fixture('bert')}\ntask: embed\nsource: { type: text, path: in.txt }\nsink: { type: jsonl, path: ./in.txt }\n`);
    const r = cli(['run', p, '--no-progress', '--overwrite']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in\.txt: the source is also an output of this job/);
    expect(readFileSync(join(dir, 'in.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(readdirSync(dir).sort()).toEqual(['in.txt', 'p.yaml']);
  });
});

describe('6. bad models are refused before they run, naming the file and field', () => {
  it('config: layer_norm_eps ≤ 0', () => {
    const dir = corrupted('bert', (d) => patchJson(join(d, 'config.json'), (c) => (c.layer_norm_eps = -1)));
    expect(() => loadModel(dir)).toThrow(`${join(dir, 'config.json')}: field "layer_norm_eps" is -1; expected a number > 0`);
  });

  it('weights: NaN values, duplicate tensor names, model.safetensors as a directory', () => {
    const nan = corrupted('bert', (d) => {
      const file = join(d, 'model.safetensors');
      const info = readSafetensorsHeader(file).tensors.get('embeddings.LayerNorm.weight')!;
      const bytes = readFileSync(file);
      new DataView(bytes.buffer, bytes.byteOffset).setFloat32(info.start, NaN, true);
      writeFileSync(file, bytes);
    });
    expect(() => loadModel(nan)).toThrow(/tensor "embeddings\.LayerNorm\.weight" has a non-finite value \(NaN\) at element 0/);
    const dup = corrupted('bert', (d) => {
      const file = join(d, 'model.safetensors');
      const bytes = readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      const header = bytes.subarray(8, 8 + n).toString().trimEnd();
      const [name, entry] = Object.entries(JSON.parse(header)).find(([k]) => k !== '__metadata__')!;
      const patched = Buffer.from(`{${JSON.stringify(name)}:${JSON.stringify(entry)},${header.slice(1)}`);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(patched.length));
      writeFileSync(file, Buffer.concat([len, patched, bytes.subarray(8 + n)]));
    });
    expect(() => loadModel(dup)).toThrow(/model\.safetensors: tensor ".+" is listed twice in the header/);
    const asDir = corrupted('bert', (d) => {
      rmSync(join(d, 'model.safetensors'));
      mkdirSync(join(d, 'model.safetensors'));
    });
    expect(() => loadModel(asDir)).toThrow(`${join(asDir, 'model.safetensors')}: is a directory, expected a .safetensors file`);
  });

  it('tokenizer: vocab of the wrong type, unk token not in it, malformed merges, ids past the embedding table', () => {
    const vocab = corrupted('bert', (d) => patchJson(join(d, 'tokenizer.json'), (t) => (t.model.vocab = 'abc')));
    expect(() => loadModel(vocab)).toThrow(`${join(vocab, 'tokenizer.json')}: model.vocab must be an object of token → id for WordPiece, got "abc"`);
    const unk = corrupted('bert', (d) => patchJson(join(d, 'tokenizer.json'), (t) => (t.model.unk_token = '[NOPE]')));
    expect(() => loadModel(unk)).toThrow(`${join(unk, 'tokenizer.json')}: model.unk_token "[NOPE]" is not in the vocabulary`);
    const merges = corrupted('gpt2', (d) => patchJson(join(d, 'tokenizer.json'), (t) => (t.model.merges[3] = 5)));
    expect(() => loadModel(merges)).toThrow(`${join(merges, 'tokenizer.json')}: model.merges[3] is 5, expected "a b" or ["a", "b"]`);
    const tokenizer = readJson('bert', 'tokenizer.json');
    const maxId = Math.max(...Object.values<number>(tokenizer.model.vocab), ...tokenizer.added_tokens.map((t: { id: number }) => t.id));
    const small = corrupted('bert', (d) => patchJson(join(d, 'config.json'), (c) => (c.vocab_size = maxId)));
    expect(() => loadModel(small)).toThrow(new RegExp(`^${small}: the tokenizer's token ids go up to ${maxId} \\(.* is ${maxId}\\), but ${join(small, 'config.json')} has vocab_size ${maxId} `));
  });
});

async function records(path: string, field = 'text') {
  const out = [];
  for await (const r of readSource({ type: 'arrow', path, field })) out.push(r);
  return out;
}

describe('9. Arrow sources are validated', () => {
  const utf8Column = (bytes: Uint8Array, offsets: number[]) => makeVector(makeData({ type: new Utf8(), length: offsets.length - 1, nullCount: 0, valueOffsets: Int32Array.from(offsets), data: bytes }));

  it('string offsets outside the data buffer: the file is refused with its path', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.arrow');
    writeFileSync(file, tableToIPC(new Table({ text: utf8Column(Buffer.from('helloworldagain'), [0, 5, 15662, 15]) }), 'file'));
    await expect(records(file)).rejects.toThrow(new RegExp(`bad\\.arrow: record batch 0, column "text": value 1 has offsets 5\\.\\.15662, outside the \\d+-byte data buffer or reversed \\(corrupt Arrow file\\)`));
  });

  it('invalid UTF-8 in a string is dead-lettered, as in text files, not turned into U+FFFD', async () => {
    const dir = tempDir();
    const file = join(dir, 'in.arrow');
    writeFileSync(file, tableToIPC(new Table({ text: utf8Column(Buffer.from([0x67, 0x6f, 0x6f, 0x64, 0x62, 0xff, 0x64]), [0, 4, 7]) }), 'file'));
    expect((await records(file)).map((r) => [r.text, r.error])).toEqual([['good', undefined], ['', 'invalid UTF-8']]);
  });

  it('a truncated or non-Arrow file is refused with its path', async () => {
    const dir = tempDir();
    const good = tableToIPC(new Table({ text: vectorFromArray(corpusLines(50), new Utf8()) }), 'file');
    writeFileSync(join(dir, 'cut.arrow'), good.subarray(0, good.length >> 1));
    writeFileSync(join(dir, 'text.arrow'), 'not arrow at all\n');
    await expect(records(join(dir, 'cut.arrow'))).rejects.toThrow(/cut\.arrow: (not a readable Arrow IPC file or stream|truncated or corrupt Arrow data)/);
    await expect(records(join(dir, 'text.arrow'))).rejects.toThrow(/text\.arrow: not a readable Arrow IPC file or stream/);
  });
});

describe('10. clean messages; a failed start leaves nothing that blocks the retry', () => {
  it('a directory as source is named as one', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'texts'));
    const r = cli(['run', writePipeline(dir, 'p.yaml', `model: ${fixture('bert')}\ntask: embed\nsource: { type: text, path: texts }\nsink: { type: jsonl, path: o.jsonl }\n`), '--no-progress']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/texts: is a directory; a source is a file or a glob such as ".*texts\/\*\.txt"/);
  });

  it('a glob matching nothing leaves no output, checkpoint or lock: the retry needs neither --resume nor --overwrite', () => {
    const dir = tempDir();
    const p = writePipeline(dir, 'p.yaml', `model: ${fixture('bert')}\ntask: embed\nsource: { type: text, path: "in/*.txt" }\nsink: { type: jsonl, path: o.jsonl }\n`);
    const r = cli(['run', p, '--no-progress']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in\/\*\.txt: no files match/);
    expect(readdirSync(dir)).toEqual(['p.yaml']);
    mkdirSync(join(dir, 'in'));
    writeFileSync(join(dir, 'in', 'a.txt'), 'one\n');
    expect(cli(['run', p, '--no-progress']).code).toBe(0);
  });

  it('stdout closed early (| head): exit 0 without a stack trace', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.txt'), `${corpusLines(2000).join('\n')}\n`);
    const p = writePipeline(dir, 'p.yaml', `model: ${fixture('bert')}\ntask: embed\nsource: { type: text, path: in.txt }\nsink: { type: stdout }\n`);
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" run "${p}" --no-progress 2>"${dir}/err" | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('0');
    expect(readFileSync(join(dir, 'err'), 'utf8')).toBe('');
  });
});
