#!/usr/bin/env bash
# What `npm test` needs besides node_modules, installed when it is missing, so the README's command passes on a
# fresh machine: Debian's chromium (the attention page's browser test) and a Python venv at .venv/ with pyarrow
# and DuckDB (the Arrow interop test reads attnflow's files with them). A step that cannot be done stops the
# run at once with the command to type; no test skips for want of these.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo 'npm test needs Debian chromium for the attention-page test. Run: sudo apt-get update && sudo apt-get install -y chromium' >&2
    exit 1
  fi
  echo 'test/setup.sh: installing Debian chromium (apt-get) for the attention-page test' >&2
  # The lock timeout waits for another apt-get on the machine instead of failing at once.
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null; }; then
    echo 'npm test needs Debian chromium for the attention-page test and apt-get failed. Run: apt-get update && apt-get install -y chromium' >&2
    exit 1
  fi
fi

if ! .venv/bin/python -c 'import pyarrow, duckdb' 2>/dev/null; then
  echo 'test/setup.sh: creating .venv with pyarrow and duckdb (pip) for the Arrow interop test' >&2
  if ! { python3 -m venv .venv && .venv/bin/pip install -q -r test/requirements.txt; }; then
    echo 'npm test needs pyarrow and duckdb in .venv. Run: python3 -m venv .venv && .venv/bin/pip install -r test/requirements.txt' >&2
    exit 1
  fi
fi
