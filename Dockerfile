# syntax=docker/dockerfile:1
# Drydock's image, one for every role, for people with Docker/BuildKit:
#   docker build -t ghcr.io/drydock-dev/drydock:0.1.0 .
# scripts/build-image.sh builds the same files with no Docker engine (both lay them out with
# scripts/lib/image-rootfs.sh): a statically linked binary, Debian's CA bundle, and the names
# other projects' manifests run (/usr/bin/kured, /manager, /collector, /scanner,
# /trivy-scanner, /remover). No shell, no libc, no package manager in the runtime image.

# The toolchain Drydock is developed with; Debian 12 (glibc 2.36, whose DNS and files NSS
# modules are part of libc, so the static binary resolves names without loading modules).
ARG RUST_IMAGE=rust:1.95-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Debian's CA certificates, as a package file for image-rootfs.sh (nothing is installed).
RUN apt-get update \
    && apt-get download ca-certificates \
    && mv ca-certificates_*.deb /ca-certificates.deb \
    && rm -rf /var/lib/apt/lists/*
# cargo-auditable embeds the crate list in the binary, for scanners (the version
# scripts/build-image.sh pins).
RUN cargo install cargo-auditable --locked --version 0.7.7
COPY . .
# An explicit --target keeps crt-static away from build scripts and proc macros.
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo auditable build --release --locked --target "$(uname -m)-unknown-linux-gnu" -p drydock --bin drydock \
    && scripts/lib/image-rootfs.sh /rootfs "target/$(uname -m)-unknown-linux-gnu/release/drydock" /ca-certificates.deb

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="drydock" \
      org.opencontainers.image.description="Drydock: Image Cleaner (Eraser-compatible) and reboot coordinator (kured-compatible), one binary for every role" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/drydock-dev/drydock" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /rootfs/base/ /
COPY --from=build /rootfs/app/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
# Root by default: the node roles need the runtime socket (Eraser's manager starts its workers
# as the image's user) and the host's namespaces (kured). The manager's pod runs as the
# image's nonroot user, 65532 (runAsUser in the manifests and the chart).
# hadolint ignore=DL3002
USER 0:0
ENTRYPOINT ["/usr/bin/drydock"]
