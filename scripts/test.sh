#!/usr/bin/env bash
# The single test entry (CI runs it through .ci/run): installs what the tests need, then checks
# formatting and lints, then runs every test tier. The real-runtime tests start their own
# private containerd per test (crates/testkit) and tear it down; the trap below also removes
# any sandbox a killed test left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

teardown() {
  for base in /tmp/ctrd.*; do
    [ -d "$base" ] && scripts/lib/ctrd-down.sh "$base" --rm
  done
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

echo "== cargo test"
cargo test --workspace --locked

# End-to-end tests need a cluster (a bare control plane is enough): they run only when its
# kubeconfig is given. They start the drydock binary built here (DRYDOCK_E2E_BIN overrides).
if [ -n "${DRYDOCK_E2E_KUBECONFIG:-}" ]; then
  echo "== cargo test -p drydock-e2e -- --ignored (cluster: $DRYDOCK_E2E_KUBECONFIG)"
  cargo build -p drydock --bin drydock --locked
  cargo test -p drydock-e2e --locked -- --ignored
fi
