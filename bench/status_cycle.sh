#!/usr/bin/env bash
# Builds dmd in release mode and runs the status-cycle benchmark (see bench/status_cycle.py):
# CPU per status cycle and RM calls per cycle with 1,000 applications against an RM answer of
# the same size, scaled up from one recorded from the loopback cluster's real RM.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin dmd
exec python3 bench/status_cycle.py "$@"
