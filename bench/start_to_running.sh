#!/usr/bin/env bash
# Builds dmd, dm-supervisor and the Flink plugin in release mode and runs
# bench/start_to_running.py against the loopback cluster (tests/env/up first).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p dm-core -p dm-supervisor -p dm-plugin-flink
exec python3 bench/start_to_running.py "$@"
