#!/usr/bin/env python3
"""`helm install` and `helm uninstall` for the real-node tier, through Helm v4's library
(PyPI helm-python-sdk, as scripts/lib/test-charts.sh uses it; there is no helm binary).

    helm.py install CHART_DIR RELEASE NAMESPACE VALUES_FILE
    helm.py uninstall RELEASE NAMESPACE

VALUES_FILE is YAML (JSON is YAML). The cluster is the kubeconfig in DRYDOCK_E2E_KUBECONFIG.
The install waits for hooks only: the test itself waits for the pods, with its own bounds and
failure context. A failure prints Helm's error and exits non-zero.
"""

from __future__ import annotations

import os
import sys

import helm_python as helm
import yaml

# Seconds Helm may take per call: the objects are created at once, nothing waits for pods.
TIMEOUT_S = 120
# Helm 4's wait strategy that waits for hooks only (the test waits for the workloads).
WAIT = "hookOnly"


def main(argv: list[str]) -> int:
    kubeconfig = os.environ.get("DRYDOCK_E2E_KUBECONFIG", "")
    if not kubeconfig:
        print("helm.py: DRYDOCK_E2E_KUBECONFIG is not set", file=sys.stderr)
        return 2
    if len(argv) == 5 and argv[0] == "install":
        _, chart, release, namespace, values_file = argv
        with open(values_file) as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            print(f"helm.py: {values_file} is not a mapping of values", file=sys.stderr)
            return 2
        config = helm.Config(kubeconfig_path=kubeconfig, namespace=namespace)
        config.install(chart, release, values, namespace=namespace, create_namespace=False,
                       timeout=TIMEOUT_S, wait=WAIT)
        return 0
    if len(argv) == 3 and argv[0] == "uninstall":
        _, release, namespace = argv
        config = helm.Config(kubeconfig_path=kubeconfig, namespace=namespace)
        config.uninstall(release, ignore_not_found=True, timeout=TIMEOUT_S, wait=WAIT)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except helm.HelmError as err:
        print(f"helm.py {' '.join(sys.argv[1:])}: {err}", file=sys.stderr)
        sys.exit(1)
