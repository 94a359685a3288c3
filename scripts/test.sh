#!/usr/bin/env bash
# The single test entry (CI runs it through .ci/run): installs what the tests need, then checks
# formatting and lints, then runs every test tier. The real-runtime tests start their own
# private containerd per test (crates/testkit) and tear it down; the trap below also removes
# any sandbox a killed test left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

e2e_dir=
cluster_dir=
teardown() {
  [ -n "$cluster_dir" ] && scripts/lib/cluster.sh down "$cluster_dir"
  for base in /tmp/ctrd.*; do
    [ -d "$base" ] && scripts/lib/ctrd-down.sh "$base" --rm
  done
  [ -n "$e2e_dir" ] && scripts/lib/control-plane.sh down "$e2e_dir"
  return 0
}
trap teardown EXIT

scripts/lib/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== no OpenSSL in the dependency tree"
for crate in openssl-sys native-tls; do
  if cargo tree --workspace --locked -e normal,build -i "$crate" >/dev/null 2>&1; then
    echo "$crate is in the dependency tree" >&2
    exit 1
  fi
done

# Licences, banned crates and sources of everything that ships (deny.toml), checked offline
# over the locked graph (`cargo fetch` brings every platform's crates, which the metadata
# needs). Advisories are not checked: their database is a download from outside the registries.
CARGO_DENY_VERSION=0.20.2
echo "== cargo deny check licenses bans sources"
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
fi
cargo fetch --locked
cargo deny --offline --locked check --hide-inclusion-graph licenses bans sources

echo "== cargo test"
cargo test --workspace --locked

echo "== container image (scripts/build-image.sh)"; scripts/lib/test-image.sh

# End-to-end tests run the real binaries against a real API server. Without a kubeconfig given
# (DRYDOCK_E2E_KUBECONFIG), a private bare control plane is built and started here (etcd and
# kube-apiserver, scripts/lib/control-plane.sh); DRYDOCK_E2E=0 skips the tier.
if [ "${DRYDOCK_E2E:-1}" != 0 ]; then
  # The spec's kubectl commands are run verbatim (Debian's kubectl).
  command -v kubectl >/dev/null || scripts/lib/install-deps.sh kubernetes-client
  if [ -z "${DRYDOCK_E2E_KUBECONFIG:-}" ]; then
    echo "== private control plane for the end-to-end tests"
    e2e_dir=$(mktemp -d /tmp/drydock-e2e.XXXXXX)
    scripts/lib/control-plane.sh up "$e2e_dir"
    export DRYDOCK_E2E_KUBECONFIG=$e2e_dir/kubeconfig
  fi
  echo "== cargo test -p drydock-e2e -- --ignored (cluster: $DRYDOCK_E2E_KUBECONFIG)"
  cargo build -p drydock --bin drydock --locked
  cargo test -p drydock-e2e --locked -- --ignored
fi

echo "== Helm charts"; scripts/lib/test-charts.sh

# The real-node tier: real kubelets (each with its own containerd + runc) run Drydock's image
# in a cluster inside a network namespace (scripts/lib/cluster.sh, needs root);
# DRYDOCK_REAL_NODES=0 skips it.
if [ "${DRYDOCK_REAL_NODES:-1}" != 0 ]; then
  echo "== real-node cluster"
  cargo build -p drydock --bin drydock --locked
  cargo test -p drydock-e2e --locked --test real_nodes --no-run
  cluster_dir=$(mktemp -d /tmp/drydock-cluster.XXXXXX)
  scripts/lib/cluster.sh up "$cluster_dir"
  echo "== cargo test -p drydock-e2e --test real_nodes -- --ignored (real nodes: $cluster_dir)"
  scripts/lib/cluster.sh run "$cluster_dir" env DRYDOCK_E2E_CLUSTER="$cluster_dir" \
    DRYDOCK_E2E_KUBECONFIG="$cluster_dir/kubeconfig" \
    cargo test -p drydock-e2e --locked --offline --test real_nodes -- --ignored --test-threads=1 --nocapture
fi
