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
# Every test carries a label: the sanitizer runs select theirs by label (ctest -L), so a test
# binary registered without one, or one a run did not build (CMake's "_NOT_BUILT" placeholder),
# would be left out of them silently. Checked before the run, not as a test of it: a ctest
# inside ctest rewrites the run's Testing/Temporary/LastTest.log.
unlabelled=$(ctest -N -LE . | grep -E '^ *Test +#')
if [[ -n "$unlabelled" ]]; then
  echo "tests without a label (give them one in CMake; see tests/README.md):"
  echo "$unlabelled"
  echo "0 passed, 1 failed (tests without a label)"
  exit 1
fi
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
