#!/usr/bin/env bash
# Builds Convene and runs the all-in-one node: a management node and one conferencing node, an
# embedded SQLite database under ./data, a sample VMR and the Test Call service, and the dashboard
# on http://127.0.0.1:8080/admin/. Extra arguments go to `convene up` (see `convene up --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build runtime
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin convene
exec target/release/convene up "$@"
