#!/usr/bin/env bash
# Images the real-node cluster (cluster.sh) imports into every node's containerd, built here
# with no registry and no builder, as reproducible single-layer OCI archives:
#
#   node-images.sh pause --out FILE [--tag REF]      the pod sandbox image: a static C program
#                                                    that sleeps until SIGTERM/SIGINT and reaps
#                                                    children (default REF: PAUSE_REF below)
# Drydock's own image comes from scripts/build-image.sh (cluster.sh calls it).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The sandbox image reference the kubelets are told to use (--pod-infra-container-image).
PAUSE_REF=registry.k8s.io/pause:3.2
TAROPTS=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)

usage() {
  echo "usage: node-images.sh pause --out FILE [--tag REF]" >&2
  exit 2
}

# Packs ROOTFS as a one-layer OCI archive OUT named REF whose config is CONFIG_JSON (the
# `config` object: Entrypoint, Cmd, Env, …). The layer is stored uncompressed: the archive only
# travels to a containerd on this machine.
pack() {
  local rootfs=$1 out=$2 ref=$3 config=$4 w
  w=$(mktemp -d)
  mkdir -p "$w/oci/blobs/sha256"
  tar "${TAROPTS[@]}" -C "$rootfs" -cf "$w/layer.tar" .
  local diff lsz cd csz md msz
  diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  lsz=$(stat -c %s "$w/layer.tar")
  mv "$w/layer.tar" "$w/oci/blobs/sha256/$diff"
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$config" "$diff" > "$w/config.json"
  csz=$(stat -c %s "$w/config.json")
  cd=$(sha256sum "$w/config.json" | cut -d' ' -f1)
  mv "$w/config.json" "$w/oci/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$csz" "$diff" "$lsz" > "$w/manifest.json"
  msz=$(stat -c %s "$w/manifest.json")
  md=$(sha256sum "$w/manifest.json" | cut -d' ' -f1)
  mv "$w/manifest.json" "$w/oci/blobs/sha256/$md"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$w/oci/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$md" "$msz" "$ref" "${ref##*:}" > "$w/oci/index.json"
  tar "${TAROPTS[@]}" -C "$w/oci" -cf "$out" oci-layout index.json blobs
  rm -rf "$w"
}

pause_image() {
  local out=$1 ref=${2:-$PAUSE_REF} w
  command -v gcc >/dev/null || scripts/lib/install-deps.sh gcc libc6-dev >&2
  w=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$w'" RETURN
  cat > "$w/pause.c" <<'C'
/* The pod sandbox: holds the pod's namespaces, reaps orphans, ends on SIGINT or SIGTERM. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
C
  mkdir -p "$w/root"
  gcc -static -Os -s -o "$w/root/pause" "$w/pause.c"
  pack "$w/root" "$out" "$ref" '{"Entrypoint":["/pause"],"WorkingDir":"/"}'
}

kind=${1:-}
[ -n "$kind" ] || usage
shift
out= tag=
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --tag) tag=${2:?--tag needs a reference}; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$out" ] || usage
case $kind in
  pause) pause_image "$out" "$tag" ;;
  *) usage ;;
esac
