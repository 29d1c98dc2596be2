// Compiles assembly/index.ts to dist/kernels.wasm with AssemblyScript (an npm devDependency: nothing is
// downloaded) and refuses a module with data segments or imports other than the memory: every worker
// instantiates the module over the shared memory, and a data segment would overwrite tensors each time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const here = dirname(new URL(import.meta.url).pathname);
const root = join(here, '..');
mkdirSync(join(root, 'dist'), { recursive: true });
const asc = join(dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')), 'bin', 'asc.js');
// Two builds of one source: portable SIMD, and relaxed SIMD (fused multiply-add), which Node 20 runs only
// behind a V8 flag; the loader picks the second when it validates.
for (const [name, features] of [['kernels.wasm', 'simd,threads'], ['kernels-relaxed.wasm', 'simd,threads,relaxed-simd']]) {
  const out = join(root, 'dist', name);
  execFileSync(process.execPath, [asc, join(root, 'assembly', 'index.ts'), '-o', out,
    '--enable', features, '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
    '--runtime', 'stub', '-O3', '--noAssert'], { stdio: 'inherit' });
  check(out);
}

function check(out) {
const bytes = readFileSync(out);
let at = 8;
const leb = () => {
  let result = 0, shift = 0, b;
  do { b = bytes[at++]; result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
  return result >>> 0;
};
while (at < bytes.length) {
  const id = bytes[at++];
  const size = leb();
  const start = at;
  if (id === 11) {
    const count = leb();
    if (count !== 0) throw new Error(`kernels.wasm has ${count} data segment(s); kernels must not use static data`);
  }
  at = start + size;
}
if (out.endsWith('relaxed.wasm')) return; // not compilable here without the V8 flag; same source as the checked one
const module = new WebAssembly.Module(bytes);
const imports = WebAssembly.Module.imports(module);
if (imports.length !== 1 || imports[0].kind !== 'memory') throw new Error(`kernels.wasm must import only the memory, imports: ${JSON.stringify(imports)}`);
console.log(`kernels.wasm: ${bytes.length} bytes, exports ${WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name).join(', ')}`);
}
