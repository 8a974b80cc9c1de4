#!/usr/bin/env bash
# Builds dm-supervisor in release mode and runs bench/supervisor.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin dm-supervisor
exec python3 bench/supervisor.py "$@"
