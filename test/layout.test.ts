import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every `@attnflow/*` package a package's sources import, by package folder. */
function imports(): Map<string, Set<string>> {
  const root = new URL('../packages/', import.meta.url).pathname;
  const out = new Map<string, Set<string>>();
  const walk = (dir: string, found: Set<string>) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, found);
      else if (name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/from '@attnflow\/([a-z-]+)/g)) found.add(m[1]);
    }
  };
  for (const pkg of readdirSync(root)) {
    const found = new Set<string>();
    walk(join(root, pkg, 'src'), found);
    found.delete(pkg);
    out.set(pkg, found);
  }
  return out;
}

describe('the layout shows the data path', () => {
  const graph = imports();

  it('encoder and decoder are stacks over the shared layers and import neither each other', () => {
    expect(graph.get('encoder')).not.toContain('decoder');
    expect(graph.get('decoder')).not.toContain('encoder');
    expect(graph.get('encoder')).toContain('layers');
    expect(graph.get('decoder')).toContain('layers');
  });

  it('kernels know no checkpoint and no model; the pipeline drives models, not decoding sessions', () => {
    expect(graph.get('kernels')).not.toContain('checkpoint');
    expect(graph.get('kernels')).not.toContain('models');
    expect(graph.get('pipeline')).not.toContain('decoder');
  });

  it('has no cycle, and each package depends on exactly what it imports', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (p: string, path: string[]) => {
      if (done.has(p)) return;
      expect(visiting.has(p), `import cycle: ${[...path, p].join(' → ')}`).toBe(false);
      visiting.add(p);
      for (const q of graph.get(p) ?? []) visit(q, [...path, p]);
      visiting.delete(p);
      done.add(p);
    };
    for (const p of graph.keys()) visit(p, []);
    for (const [pkg, used] of graph) {
      const manifest = JSON.parse(readFileSync(new URL(`../packages/${pkg}/package.json`, import.meta.url), 'utf8')) as { dependencies?: Record<string, string> };
      const declared = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@attnflow/')).map((d) => d.slice('@attnflow/'.length));
      expect(declared.sort(), `${pkg}/package.json dependencies`).toEqual([...used].sort());
      for (const [name, range] of Object.entries(manifest.dependencies ?? {})) expect(range, `${pkg}: ${name}`).not.toBe('*');
    }
  });
});
