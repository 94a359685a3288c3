#!/usr/bin/env bash
# Tests the Helm charts under charts/ with real Helm (Helm v4's library, PyPI helm-python-sdk;
# no helm binary is needed): lint, `helm template` against `drydock manifests`, kured's and
# Eraser's values, typos, and install/upgrade/uninstall on a private control plane
# (scripts/lib/control-plane.sh; DRYDOCK_CHARTS_KUBECONFIG names another cluster instead,
# DRYDOCK_E2E=0 skips the cluster tests). The tests are charts/tests/test_charts.py, run by
# pytest, whose last line counts them; a failure fails this script.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY_PACKAGES=(helm-python-sdk==0.2.2 pytest pyyaml)

if ! python3 -c 'import helm_python, pytest, yaml' 2>/dev/null; then
  scripts/lib/pip-install.sh "${PY_PACKAGES[@]}" || true
  python3 -c 'import helm_python, pytest, yaml' || { echo "helm-python-sdk not installed" >&2; exit 1; }
fi

if [ -z "${DRYDOCK_BIN:-}" ]; then
  cargo build -q -p drydock --bin drydock --locked
  export DRYDOCK_BIN=${CARGO_TARGET_DIR:-target}/debug/drydock
fi

cluster_dir=
cleanup() { [ -n "$cluster_dir" ] && scripts/lib/control-plane.sh down "$cluster_dir"; return 0; }
trap cleanup EXIT
if [ -z "${DRYDOCK_CHARTS_KUBECONFIG:-}" ] && [ "${DRYDOCK_E2E:-1}" != 0 ]; then
  command -v kubectl >/dev/null || scripts/lib/install-deps.sh kubernetes-client
  # A cluster of its own: chart objects with fixed names (Eraser's ClusterRole) must not meet
  # what other tests left behind.
  cluster_dir=$(mktemp -d /tmp/drydock-charts.XXXXXX)
  scripts/lib/control-plane.sh up "$cluster_dir"
  export DRYDOCK_CHARTS_KUBECONFIG=$cluster_dir/kubeconfig
fi

PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider charts/tests
