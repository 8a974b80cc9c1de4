#!/usr/bin/env bash
# Builds dmd and the actix-web baseline in release mode and runs the status benchmark
# (see bench/status.py). Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --bin dmd --bin hello-actix
exec python3 bench/status.py "$@"
