#!/usr/bin/env bash
# Builds Drydock's container image — one image for every role — with no Docker engine and no
# registry, into an OCI image archive that `ctr images import`, `skopeo copy oci-archive:…`,
# `podman load` and `docker load` read.
#
#   scripts/build-image.sh [--out FILE] [--tag REF] [--binary PATH]
#
#   --out FILE     the archive (default target/image/drydock.oci.tar)
#   --tag REF      the image reference (default ghcr.io/drydock-dev/drydock:<workspace version>)
#   --binary PATH  package this binary instead of building one (it must be statically linked)
#
# The binary is the release build, made by cargo-auditable (its crate list embedded) and
# statically linked against glibc (`+crt-static`), so the image needs no libc layer; it is
# packaged with Debian's ca-certificates (scripts/lib/
# image-rootfs.sh lays out the files, the Dockerfile uses the same script). Reproducible: the
# layers are sorted tars with fixed owners and mtimes (SOURCE_DATE_EPOCH, default the commit
# time), gzip without names or timestamps, and the JSON documents are written byte for byte,
# so two builds of one commit give the same digest. Prints the reference, the manifest digest
# and the compressed size.
set -euo pipefail
cd "$(dirname "$0")/.."

# The cargo-auditable release the image is built with (also pinned in the Dockerfile).
CARGO_AUDITABLE_VERSION=0.7.7

out=target/image/drydock.oci.tar
tag=
binary=
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --tag) tag=${2:?--tag needs a reference}; shift 2 ;;
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
source_url=$(sed -n '/^\[workspace.package\]/,/^\[/s/^repository = "\(.*\)"/\1/p' Cargo.toml)
license=$(sed -n '/^\[workspace.package\]/,/^\[/s/^license = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "build-image: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
tag=${tag:-ghcr.io/drydock-dev/drydock:$version}
case ${tag##*/} in
  *:*) ;;
  *) echo "build-image: --tag $tag has no tag part (name:tag)" >&2; exit 2 ;;
esac
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

case $(uname -m) in
  x86_64) triple=x86_64-unknown-linux-gnu; arch=amd64 ;;
  aarch64) triple=aarch64-unknown-linux-gnu; arch=arm64 ;;
  *) echo "build-image: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

started=$(date +%s)
if [ -z "$binary" ]; then
  # cargo-auditable embeds the crate list in the binary (a `.dep-v0` section), so `drydock
  # scan`, syft and Trivy can tell which crates, at which versions, the image ships.
  if ! cargo install --list | grep -qx "cargo-auditable v$CARGO_AUDITABLE_VERSION:"; then
    cargo install cargo-auditable --locked --version "$CARGO_AUDITABLE_VERSION"
  fi
  # An explicit --target keeps crt-static away from build scripts and proc macros.
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo auditable build --release --locked --target "$triple" -p drydock --bin drydock
  binary=${CARGO_TARGET_DIR:-target}/$triple/release/drydock
fi
if readelf -l "$binary" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  echo "build-image: $binary is dynamically linked; the image has no libc" >&2
  exit 1
fi

# Debian's ca-certificates, downloaded once per version into a cache (apt's lists are fetched
# when this machine has none).
cache=target/image/debs
mkdir -p "$cache"
ca_deb=$(find "$cache" -name 'ca-certificates_*.deb' | LC_ALL=C sort | tail -n 1)
if [ -z "$ca_deb" ]; then
  dl=$(mktemp -d); chmod 0777 "$dl"
  (cd "$dl" && { apt-get download -qq ca-certificates 2>/dev/null \
    || { apt-get update -qq && apt-get download -qq ca-certificates; }; })
  mv "$dl"/ca-certificates_*.deb "$cache/"; rmdir "$dl"
  ca_deb=$(find "$cache" -name 'ca-certificates_*.deb' | LC_ALL=C sort | tail -n 1)
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
scripts/lib/image-rootfs.sh "$work/rootfs" "$binary" "$ca_deb"
mkdir -p "$work/oci/blobs/sha256"
TAROPTS=(--sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu)
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$work/oci/blobs/sha256/$d"; echo "$d"; }

layers_json= diff_ids= docker_layers= total=0
for layer in base app; do
  tar "${TAROPTS[@]}" -C "$work/rootfs/$layer" -cf "$work/$layer.tar" .
  diff_id=$(sha256sum "$work/$layer.tar" | cut -d' ' -f1)
  gzip -n -9 "$work/$layer.tar"
  size=$(stat -c %s "$work/$layer.tar.gz"); total=$((total + size))
  digest=$(blob "$work/$layer.tar.gz")
  layers_json+="${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
  diff_ids+="${diff_ids:+,}\"sha256:$diff_id\""
  docker_layers+="${docker_layers:+,}\"blobs/sha256/$digest\""
done

labels="\"org.opencontainers.image.title\":\"drydock\""
labels+=",\"org.opencontainers.image.description\":\"Drydock: Image Cleaner (Eraser-compatible) and reboot coordinator (kured-compatible), one binary for every role\""
labels+=",\"org.opencontainers.image.version\":\"$version\""
labels+=",\"org.opencontainers.image.revision\":\"$revision\""
labels+=",\"org.opencontainers.image.source\":\"$source_url\""
labels+=",\"org.opencontainers.image.licenses\":\"$license\""
labels+=",\"org.opencontainers.image.created\":\"$created\""
# Root by default: the node roles need the runtime socket (Eraser's workers run as the image's
# user) and host namespaces (kured); the manager's pod runs as nonroot (65532).
printf '{"architecture":"%s","os":"linux","created":"%s","config":{"User":"0:0","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],"Entrypoint":["/usr/bin/drydock"],"WorkingDir":"/","Labels":{%s}},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created":"%s","created_by":"scripts/lib/image-rootfs.sh base"},{"created":"%s","created_by":"scripts/lib/image-rootfs.sh app"}]}' \
  "$arch" "$created" "$labels" "$diff_ids" "$created" "$created" > "$work/config.json"
config_size=$(stat -c %s "$work/config.json"); config_digest=$(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s],"annotations":{%s}}' \
  "$config_digest" "$config_size" "$layers_json" "$labels" > "$work/manifest.json"
manifest_size=$(stat -c %s "$work/manifest.json"); manifest_digest=$(blob "$work/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest_digest" "$manifest_size" "$arch" "$tag" "${tag##*:}" > "$work/oci/index.json"
# docker load (before Docker 25) reads this file rather than index.json.
printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":[%s]}]' \
  "$config_digest" "$tag" "$docker_layers" > "$work/oci/manifest.json"
mkdir -p "$(dirname "$out")"
tar "${TAROPTS[@]}" -C "$work/oci" -cf "$out.partial" oci-layout index.json manifest.json blobs
mv "$out.partial" "$out"

echo "image $tag"
echo "digest sha256:$manifest_digest"
echo "compressed layers $total bytes ($(awk "BEGIN{printf \"%.1f\", $total/1048576}") MiB), built in $(( $(date +%s) - started )) s"
echo "archive $out"
