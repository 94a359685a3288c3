#!/usr/bin/env bash
# Benchmarks the vulnerability index at real scale: writes the seeded synthetic OSV dumps of every
# default source (scripts/gen-osv.py, figures and their sources in its header), then measures
# the real `drydock vulndb build` process over all of them (wall time and peak RSS from
# /usr/bin/time -v, index size) and `drydock scan` of a Debian 12 image of PACKAGES packages
# against that index (match time per image from the JSON report, best of RUNS).
# Usage: scripts/bench-vulndb.sh [RUNS]   (env: SCALE=1.0, SEED=16, PACKAGES=400, KEEP=dir to
# keep and reuse the dumps, DRYDOCK=path to a release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
RUNS=${1:-3}
SCALE=${SCALE:-1.0}
SEED=${SEED:-16}
PACKAGES=${PACKAGES:-400}
W=$(mktemp -d /tmp/bench-vulndb.XXXXXX); trap 'rm -rf "$W"' EXIT
DUMPS=${KEEP:-$W/osv}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

bench_release_binary
bench_osv_dumps "$DUMPS" "$SEED" "$SCALE"
echo "   dumps: $(du -sm "$DUMPS" | cut -f1) MiB"

echo "== drydock vulndb build over every default ecosystem"
/usr/bin/time -v -o "$W/time" "$DRYDOCK" vulndb build --osv "$DUMPS" --vulndb "$W/vuln.db" \
  -o json > "$W/report.json"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$W/time")
rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/time")
python3 - "$W/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"   records {r['records']}, withdrawn {r['withdrawn']}, advisory rows {r['advisories']}, skipped {r['skipped']}")
EOF
echo "   wall ${wall} s, peak RSS $((rss / 1024)) MiB, index $(( $(stat -c %s "$W/vuln.db") / 1048576 )) MiB"

echo "== drydock scan: a Debian 12 image of $PACKAGES packages, best of $RUNS"
for n in $(seq 0 $((PACKAGES - 1))); do
  printf 'Package: pkg%s\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n' "$n"
done > "$W/status"
STATUS_FILE="$W/status" scripts/lib/build-image.sh "$W/image.tar" bench/debian:12 >/dev/null
best=""
for _ in $(seq "$RUNS"); do
  # A fresh process each run: the first lookups of a run are the ones that count.
  "$DRYDOCK" scan --vulndb "$W/vuln.db" "$W/image.tar" -o json --severity UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL > "$W/scan.json"
  ms=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["images"][0]; print(s["timings"]["matchMs"], len(s.get("findings", [])))' "$W/scan.json")
  set -- $ms
  if [ -z "$best" ] || awk -v a="$1" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$1; findings=$2; fi
done
echo "   match ${best} ms per image ($findings findings)"
