#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a while each and reports, per target, the runs done
# and whether it crashed. Crashes land in fuzz/artifacts/<target>/.
#
# cargo-fuzz needs nightly compiler flags; this machine has only the stable toolchain, so the
# script sets RUSTC_BOOTSTRAP=1 (stable rustc then accepts them) and uses --sanitizer none
# (libFuzzer's coverage guidance without AddressSanitizer, which Rust code rarely needs).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s, every target)
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${1:-600}; shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
status=0
for target in "${TARGETS[@]}"; do
  log=$(mktemp)
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O "$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "$target: ok (${runs:-no summary})"
  else
    status=1
    echo "$target: CRASH (exit $rc); see fuzz/artifacts/$target/"
    grep -m3 -E 'panicked|ERROR' "$log"
  fi
  rm -f "$log"
done
exit $status
