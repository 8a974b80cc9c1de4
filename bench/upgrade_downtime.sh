#!/usr/bin/env bash
# Builds dmd, dm-supervisor and the Flink plugin (release; PROFILE=debug for a debug build) and
# runs bench/upgrade_downtime.py against the loopback cluster (tests/env/up first).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
    cargo build --release -p dm-core -p dm-supervisor -p dm-plugin-flink
else
    cargo build -p dm-core -p dm-supervisor -p dm-plugin-flink
fi
exec python3 bench/upgrade_downtime.py --bin-dir "target/$profile" "$@"
