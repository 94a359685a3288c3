#!/usr/bin/env bash
# Lays out the file trees of Drydock's image, shared by scripts/build-image.sh (no Docker) and
# the Dockerfile, so both produce the same files:
#   OUT/base  what changes rarely: the CA bundle (from Debian's ca-certificates .deb, with its
#             copyright and a dpkg status.d entry so scanners see the package), /etc/passwd
#             and /etc/group (root, and nonroot 65532 for the manager), /etc/nsswitch.conf
#             (files, then DNS: Kubernetes mounts /etc/hosts and /etc/resolv.conf, not this),
#             /tmp
#   OUT/app   the static binary /usr/bin/drydock and the names other projects' manifests run:
#             /usr/bin/kured (kured's chart), /manager (Eraser's chart), /collector, /scanner,
#             /trivy-scanner, /remover (Eraser's worker images)
# Usage: image-rootfs.sh OUT BINARY CA_CERTIFICATES_DEB
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 OUT BINARY CA_CERTIFICATES_DEB" >&2; exit 2; }
OUT=$1; BINARY=$2; CA_DEB=$3
[ -f "$BINARY" ] || { echo "image-rootfs: binary $BINARY not found" >&2; exit 1; }
[ -f "$CA_DEB" ] || { echo "image-rootfs: package $CA_DEB not found" >&2; exit 1; }
umask 022
rm -rf "$OUT"
mkdir -p "$OUT/base" "$OUT/app"

# --- base -----------------------------------------------------------------------------------
base=$OUT/base
deb=$(mktemp -d); trap 'rm -rf "$deb"' EXIT
dpkg-deb -x "$CA_DEB" "$deb"
mkdir -p "$base/etc/ssl/certs" "$base/usr/share/doc/ca-certificates" "$base/var/lib/dpkg/status.d" \
  "$base/tmp"
chmod 1777 "$base/tmp"
# update-ca-certificates concatenates every certificate the package ships (its default
# configuration enables all of them); the same, in a fixed order.
certs=$(find "$deb/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort)
[ -n "$certs" ] || { echo "image-rootfs: no certificates in $CA_DEB" >&2; exit 1; }
# shellcheck disable=SC2086 # one path per line, no spaces in the package's file names
cat $certs > "$base/etc/ssl/certs/ca-certificates.crt"
cp "$deb/usr/share/doc/ca-certificates/copyright" "$base/usr/share/doc/ca-certificates/copyright"
dpkg-deb -f "$CA_DEB" Package Version Architecture Maintainer Description \
  | sed '1a Status: install ok installed' > "$base/var/lib/dpkg/status.d/ca-certificates"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  > "$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$base/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$base/etc/nsswitch.conf"

# --- app ------------------------------------------------------------------------------------
app=$OUT/app
mkdir -p "$app/usr/bin"
install -m 0755 "$BINARY" "$app/usr/bin/drydock"
ln -s drydock "$app/usr/bin/kured"
for name in manager collector scanner trivy-scanner remover; do
  ln -s usr/bin/drydock "$app/$name"
done
