#!/usr/bin/env bash
# Drydock's main job on this machine, no cluster needed: starts a private containerd, loads
# sample images built locally, runs one of them in a pod, shows what `drydock clean --dry-run`
# would do, cleans for real, shows what is left; then compiles a small OSV index from
# testdata/osv, scans two more images and cleans in automatic mode (`clean --vulndb`: only the
# vulnerable one goes), and tears everything down.
# Needs root (it runs containerd); installs containerd, runc and busybox-static if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lib/install-deps.sh

echo "== building drydock"
cargo build --quiet --locked -p drydock -p drydock-testkit
DRYDOCK=target/debug/drydock
POD=target/debug/drydock-sandbox-pod

BASE=$(mktemp -d /tmp/ctrd.XXXXXX)
trap 'scripts/lib/ctrd-down.sh "$BASE" --rm' EXIT
scripts/lib/ctrd-up.sh "$BASE"
SOCK="unix://$BASE/run/containerd.sock"
ctr_() { ctr --address "$BASE/run/containerd.sock" --namespace k8s.io "$@"; }

echo "== loading sample images (built locally, no registry)"
for name in localhost/drydock/pause:1 localhost/shop/web:2.1 localhost/shop/web:2.0 \
            localhost/shop/api:1.4 localhost:5000/platform/agent:7 localhost/tools/migrate:0.9; do
  scripts/lib/build-image.sh "$BASE/img.tar" "$name"
  ctr_ images import "$BASE/img.tar" >/dev/null
done
ctr_ images tag localhost/shop/api:1.4 localhost/shop/api:latest >/dev/null

echo "== running localhost/shop/web:2.1 in a pod (so it is in use)"
"$POD" "$SOCK" web localhost/shop/web:2.1 >/dev/null

echo
echo "== drydock clean --dry-run --exclude 'localhost:5000/platform/*'"
"$DRYDOCK" clean --runtime-endpoint "$SOCK" --dry-run --exclude 'localhost:5000/platform/*' 2>/dev/null

echo
echo "== drydock clean --exclude 'localhost:5000/platform/*'"
"$DRYDOCK" clean --runtime-endpoint "$SOCK" --exclude 'localhost:5000/platform/*' 2>/dev/null

echo
echo "== images left on the node"
ctr_ images ls -q | grep -v '^sha256:'

echo
echo "== drydock vulndb build --osv testdata/osv (a few committed OSV records)"
"$DRYDOCK" vulndb build --osv testdata/osv --vulndb "$BASE/vuln.db" 2>/dev/null

echo
echo "== loading localhost/shop/legacy:1 (libssl3 3.0.11-1~deb12u2) and localhost/shop/patched:3 (no openssl)"
scripts/lib/build-image.sh "$BASE/img.tar" localhost/shop/legacy:1
ctr_ images import "$BASE/img.tar" >/dev/null
printf 'Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\n' > "$BASE/clean-status"
STATUS_FILE="$BASE/clean-status" scripts/lib/build-image.sh "$BASE/img.tar" localhost/shop/patched:3
ctr_ images import "$BASE/img.tar" >/dev/null

echo
echo "== drydock scan localhost/shop/legacy:1 localhost/shop/patched:3"
"$DRYDOCK" scan --runtime-endpoint "$SOCK" --containerd-root "$BASE/root" --vulndb "$BASE/vuln.db" \
  localhost/shop/legacy:1 localhost/shop/patched:3 2>/dev/null

echo
echo "== drydock clean --vulndb (automatic mode: only vulnerable or end-of-life unused images go)"
"$DRYDOCK" clean --runtime-endpoint "$SOCK" --containerd-root "$BASE/root" --vulndb "$BASE/vuln.db" \
  --exclude 'localhost:5000/platform/*' 2>/dev/null

echo
echo "== images left on the node"
ctr_ images ls -q | grep -v '^sha256:'
