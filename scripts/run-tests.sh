#!/usr/bin/env bash
# Runs every test registered with ctest (unit, fuzz-corpus replay, integration, end to end) in
# parallel and closes with one line "N passed, N failed". Arguments after the build directory
# go to ctest (e.g. -L unit).
set -uo pipefail
BUILD_DIR=${1:-build}
shift || true
JOBS=${JOBS:-$(nproc)}
# More jobs than cores: most tests wait on sockets, not CPU.
PARALLEL=$((JOBS * 2))
cd "$BUILD_DIR" || { echo "no build directory $BUILD_DIR"; exit 2; }
log=$(mktemp)
ctest --output-on-failure --timeout 600 -j "$PARALLEL" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
rm -f "$log"
if [[ -z "$summary" ]]; then
  echo "0 passed, 1 failed (ctest produced no summary)"
  exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")
echo "$((total - failed)) passed, $failed failed"
if [[ $rc -ne 0 || $failed -ne 0 ]]; then exit 1; fi
