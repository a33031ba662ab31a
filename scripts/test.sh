#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite: unit tests, API and storage tests on
# SQLite and on a throw-away PostgreSQL cluster, and end-to-end tests that run the real `convene`
# binary against real peers (headless Chromium for the dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build runtime test
export PATH="$HOME/.cargo/bin:$PATH"
if [ -f tests/e2e/package.json ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
# The end-to-end tests run the binary, so build it before any test starts.
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast "$@"
