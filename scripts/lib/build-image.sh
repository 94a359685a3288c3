#!/usr/bin/env bash
# Builds a small, reproducible two-layer OCI image archive without a registry or a builder:
# layer 1 is a static busybox with a few applets, layer 2 a Debian 12 os-release, a dpkg status
# file and a marker file that makes each image name's content (and so its image ID) distinct.
# Usage: build-image.sh OUT.tar NAME [CMD...]     (MARKER=text overrides the marker content;
# STATUS_FILE=path writes that file as the dpkg status instead of the default libssl3 + zlib1g)
set -euo pipefail
OUT=$1; NAME=$2; shift 2
CMD=("$@"); [ ${#CMD[@]} -gt 0 ] || CMD=(/bin/sleep 3600)
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "build-image: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/l1/bin" "$W/l2/var/lib/dpkg" "$W/l2/etc" "$W/oci/blobs/sha256"
cp "$BUSYBOX" "$W/l1/bin/busybox"
for a in sh sleep cat ls true; do ln -s busybox "$W/l1/bin/$a"; done
if [ -n "${STATUS_FILE:-}" ]; then cp "$STATUS_FILE" "$W/l2/var/lib/dpkg/status"; else
printf 'Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\nPackage: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n' > "$W/l2/var/lib/dpkg/status"
fi
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n' > "$W/l2/etc/os-release"
printf '%s\n' "${MARKER:-$NAME}" > "$W/l2/etc/drydock-sample"
TAROPTS=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$W/oci/blobs/sha256/$d"; echo "$d"; }
declare -a LD DIFF LSZ
for i in 1 2; do
  tar "${TAROPTS[@]}" -C "$W/l$i" -cf "$W/layer$i.tar" .
  DIFF[$i]=$(sha256sum "$W/layer$i.tar" | cut -d' ' -f1)
  gzip -n -9 "$W/layer$i.tar"
  LSZ[$i]=$(stat -c %s "$W/layer$i.tar.gz"); LD[$i]=$(blob "$W/layer$i.tar.gz")
done
cmdjson=$(printf '"%s",' "${CMD[@]}"); cmdjson="[${cmdjson%,}]"
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' "$cmdjson" "${DIFF[1]}" "${DIFF[2]}" > "$W/config.json"
CSZ=$(stat -c %s "$W/config.json"); CD=$(blob "$W/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$CD" "$CSZ" "${LD[1]}" "${LSZ[1]}" "${LD[2]}" "${LSZ[2]}" > "$W/manifest.json"
MSZ=$(stat -c %s "$W/manifest.json"); MD=$(blob "$W/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}' > "$W/oci/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' "$MD" "$MSZ" "$NAME" "${NAME##*:}" > "$W/oci/index.json"
tar "${TAROPTS[@]}" -C "$W/oci" -cf "$OUT" oci-layout index.json blobs
