#!/usr/bin/env bash
# Regenerates the committed manifests under deploy/ from the Rust types (`drydock manifests`).
# crates/drydock/tests/manifests.rs fails when they differ from what the binary renders.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p drydock
bin="${CARGO_TARGET_DIR:-target}/debug/drydock"
mkdir -p deploy/crds deploy/manifests
"$bin" manifests crds > deploy/crds/eraser.sh.yaml
"$bin" manifests image-cleaner > deploy/manifests/image-cleaner.yaml
"$bin" manifests reboot > deploy/manifests/reboot.yaml
echo "rendered deploy/crds/eraser.sh.yaml deploy/manifests/image-cleaner.yaml deploy/manifests/reboot.yaml"
