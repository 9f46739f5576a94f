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
# ASan, LSan and TSan write each report to REPORT_DIR/report.<binary>.<pid> instead of the
# process's log (nothing when there is nothing to report).
for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
  export "$var=${!var:+${!var}:}log_path=$dir/report:log_exe_name=1"
done
# GCC's UBSan ignores log_path and prints to stderr, which the harness sends to each process's
# log in the test's temporary directories: keep those (short path: PostgreSQL's socket lives
# there) and search them afterwards.
tmp=$(mktemp -d -t kh-san-XXXXXX)
chmod 755 "$tmp"  # the PostgreSQL user must reach its directories inside
export TMPDIR=$tmp KUBEHUB_KEEP_TMP=1
"$@"
rc=$?
grep -rlE --include='*.log' --include='*.log.*' \
  ': runtime error: |ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer' "$tmp" \
  2>/dev/null | while read -r log; do
  cp "$log" "$dir/report.log.$(basename "$(dirname "$log")").$(basename "$log")"
done
rm -rf "$tmp"
shopt -s nullglob
reports=("$dir"/report*)
if ((${#reports[@]} > 0)); then
  for f in "${reports[@]}"; do
    echo "==== sanitizer report: $(basename "$f")"
    grep -E -A 30 ': runtime error: |ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer' "$f" |
      head -80
  done
  echo "FAILED: sanitizer reports in ${#reports[@]} file(s) from the test's processes (above)"
  exit 1
fi
exit "$rc"
