#!/usr/bin/env bash
# make bench: builds the benchmark tools (not part of the default build) into BUILD_DIR and runs
# scripts/bench.py with Debian's python3 (see bench/README.md for the knobs).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build-release}"
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target kubehub-agent-swarm kubehub-bench-client \
  kubehub-codec-bench
# Thousands of tunnels: one descriptor each in the hub and in the swarm.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 scripts/bench.py "$BUILD_DIR"
