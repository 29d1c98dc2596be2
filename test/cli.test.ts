import { describe, expect, it } from 'vitest';
import { fixture, readJson } from './helpers/fixtures.js';
import { cli } from './helpers/cli.js';

const COMMANDS = ['run', 'worker', 'validate', 'inspect', 'embed', 'classify', 'rerank', 'zero-shot', 'ner', 'qa', 'fill-mask', 'generate', 'translate', 'summarize', 'attention', 'explain'];

describe('the attnflow CLI', () => {
  it('--help for the tool and for every command', () => {
    const top = cli(['--help']);
    expect(top.code).toBe(0);
    for (const c of COMMANDS) expect(top.stdout).toContain(`  ${c}`);
    for (const c of COMMANDS) {
      const r = cli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain(`Usage: attnflow ${c}`);
    }
  }, 600_000); // one process per command: ~4 s each on a loaded 2-core machine

  it('meaningful exit codes and messages for bad usage', () => {
    const unknown = cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const flag = cli(['embed', '--colour', 'red', 'x']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/Unknown option '--colour'/);
    const wrongTask = cli(['classify', '--model', fixture('gpt2'), 'hello']);
    expect(wrongTask.code).toBe(2);
    expect(wrongTask.stderr).toMatch(/cannot do "classify"/);
    const missing = cli(['embed', '--model', '/nonexistent/model', 'hi']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('/nonexistent/model: no such model directory');
    expect(cli([]).code).toBe(2);
  });

  it('task shortcuts work offline on the embedded models', () => {
    const e = cli(['embed', 'The 2022 Beijing Winter Games', 'Self-attention']);
    expect(e.code, e.stderr).toBe(0);
    const rows = e.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.text)).toEqual(['The 2022 Beijing Winter Games', 'Self-attention']);
    expect(Math.hypot(...rows[0].embedding)).toBeCloseTo(1, 5);
    const c = cli(['classify', 'I loved this film, it was wonderful!']);
    expect(JSON.parse(c.stdout).label).toBe('positive');
    const q = cli(['qa', '--question', 'Who hosted the games?', '--context', 'The 2022 Winter Games were hosted by Beijing.']);
    expect(q.code, q.stderr).toBe(0);
    expect(typeof JSON.parse(q.stdout).answer).toBe('string');
    const f = cli(['fill-mask', 'The 2022 Beijing [MASK] Games']);
    const [predictions] = JSON.parse(f.stdout).masks;
    expect(predictions).toHaveLength(5);
    for (const p of predictions) expect(p.sequence).toMatch(/^The 2022 Beijing.*Games$/);
  });

  it('generate streams the greedy continuation of one prompt', () => {
    const g = readJson('gpt2', 'expected.json');
    const r = cli(['generate', '--model', fixture('gpt2'), '--max-new-tokens', '16', g.prompts[2]]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${g.prompts[2]}${g['prompt2.greedy_text']}\n`);
  });

  it('inspect reports architecture, parameters and tensors', () => {
    const r = cli(['inspect', fixture('bert'), '--tensors']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('architecture  BertModel (encoder)');
    expect(r.stdout).toMatch(/parameters +[\d,]+ in 39 tensors/);
    expect(r.stdout).toContain('encoder.layer.0.attention.self.query.weight');
    const j = JSON.parse(cli(['inspect', fixture('t5'), '--json']).stdout);
    expect(j.architecture).toBe('T5ForConditionalGeneration');
  });
});
