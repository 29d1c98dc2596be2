#!/usr/bin/env bash
# The benchmark's peers (onnxruntime-node, onnxruntime-web, transformers.js, and the AssemblyScript compiler of
# the peak probe) are bench/'s own devDependencies, installed into bench/node_modules from bench/package-lock.json
# on the first `npm run bench`, so that `npm install` at the root stays small. Lifecycle scripts stay off, as at
# the root: onnxruntime-node's would download binaries that its package already ships.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
  echo 'bench/setup.sh: installing the benchmark peers into bench/node_modules (once)' >&2
  npm ci --ignore-scripts --no-audit --no-fund
fi
