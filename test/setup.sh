#!/usr/bin/env bash
# What `npm test` needs besides node_modules, installed when it is missing, so the README's command passes on a
# fresh machine: Debian's chromium (the attention page's browser test), Debian's redis-server (the stream workers'
# test starts its own on a free port) and a Python venv at .venv/ with pyarrow
# and DuckDB (the Arrow interop test reads attnflow's files with them). A step that cannot be done stops the
# run at once with the command to type; no test skips for want of these.
set -euo pipefail
cd "$(dirname "$0")/.."

# A Debian package the tests need, installed with apt-get when its command is missing (as root), else a stop
# with the command to run. The lock timeout waits for another apt-get on the machine instead of failing at once.
need_debian_package() {
  local command=$1 package=$2 why=$3
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "npm test needs Debian $package for $why. Run: sudo apt-get update && sudo apt-get install -y $package" >&2
    exit 1
  fi
  echo "test/setup.sh: installing Debian $package (apt-get) for $why" >&2
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$package" >/dev/null; }; then
    echo "npm test needs Debian $package for $why and apt-get failed. Run: apt-get update && apt-get install -y $package" >&2
    exit 1
  fi
}

need_debian_package chromium chromium 'the attention-page test'
need_debian_package redis-server redis-server 'the stream workers test'

if ! .venv/bin/python -c 'import pyarrow, duckdb' 2>/dev/null; then
  echo 'test/setup.sh: creating .venv with pyarrow and duckdb (pip) for the Arrow interop test' >&2
  if ! { python3 -m venv .venv && .venv/bin/pip install -q -r test/requirements.txt; }; then
    echo 'npm test needs pyarrow and duckdb in .venv. Run: python3 -m venv .venv && .venv/bin/pip install -r test/requirements.txt' >&2
    exit 1
  fi
fi
