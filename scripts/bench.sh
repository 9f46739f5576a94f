#!/usr/bin/env bash
# make bench: builds the benchmark tools (bench/tools/, not part of the default build) into
# BUILD_DIR and runs the runner, bench/kubehub_bench/, with Debian's python3 (see bench/README.md
# for the knobs).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build-release}"
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target kubehub-agent-swarm kubehub-bench-client \
  kubehub-codec-bench
# Thousands of tunnels: one descriptor each in the hub and in the swarm.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PYTHONPATH="$PWD/bench${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 -m kubehub_bench "$BUILD_DIR"
