#!/usr/bin/env bash
# Builds dmctl in release mode and runs the unpack benchmark (see bench/unpack.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p dmctl
exec python3 bench/unpack.py "$@"
