#!/usr/bin/env bash
# Runs a test whose processes are sanitized binaries started as children (e2e: hub, agent,
# metaserver, stand-in, kubehubctl) and fails it when any of them wrote a sanitizer report, even
# one the test itself did not notice (a leak reported at a clean exit, a report from a process
# the test killed or expected to fail). Usage: sanitizer-reports.sh REPORT_DIR COMMAND [ARG...]
set -uo pipefail
dir=$1
shift
rm -rf "$dir"
mkdir -p "$dir"
# Each sanitized process writes its reports to REPORT_DIR/report.<binary>.<pid> instead of into
# its own log; nothing is written when there is nothing to report.
for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
  export "$var=${!var:+${!var}:}log_path=$dir/report:log_exe_name=1"
done
"$@"
rc=$?
shopt -s nullglob
reports=("$dir"/report*)
if ((${#reports[@]} > 0)); then
  for f in "${reports[@]}"; do
    echo "==== sanitizer report: $(basename "$f")"
    cat "$f"
  done
  echo "FAILED: ${#reports[@]} sanitizer report(s) from the test's processes (above)"
  exit 1
fi
exit "$rc"
