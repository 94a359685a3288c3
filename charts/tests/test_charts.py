"""Tests of Drydock's Helm charts with real Helm (Helm v4's library through helm-python-sdk).

- both charts pass `helm lint --strict`;
- with default values, `helm template` equals `drydock manifests` object for object (one source
  of truth: a difference is reported field by field, so an RBAC change in the Rust manifests
  names what the chart must follow);
- the reboot chart takes the kured chart's own values file and the AKS document's `--set`, and
  renders every `configuration.*` key as kured's chart does; the image-cleaner chart takes the
  Eraser chart's values; a typo fails naming the key;
- with DRYDOCK_CHARTS_KUBECONFIG, both charts install, upgrade and uninstall on that cluster.

Run by scripts/lib/test-charts.sh (DRYDOCK_BIN names the `drydock` binary).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import uuid

import helm_python as helm
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
REBOOT = ROOT / "charts" / "reboot"
CLEANER = ROOT / "charts" / "image-cleaner"
TESTDATA = pathlib.Path(__file__).resolve().parent / "testdata"
DRYDOCK = os.environ.get("DRYDOCK_BIN", str(ROOT / "target" / "debug" / "drydock"))
KUBECONFIG = os.environ.get("DRYDOCK_CHARTS_KUBECONFIG", "")
# The AKS kured document's install command passes this.
AKS_SET = 'controller.nodeSelector."kubernetes\\.io/os"=linux'


# === helpers ===


def load_values(name: str) -> dict:
    with open(TESTDATA / name) as f:
        return yaml.safe_load(f)


def parse_stream(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(chart_dir: pathlib.Path, values: dict | None = None, *, name: str,
           namespace: str, include_crds: bool = False) -> list[dict]:
    """`helm template` of a chart: its objects, CRDs first when asked for."""
    chart = helm.Chart.load(chart_dir)
    objects: list[dict] = []
    if include_crds:
        for crd in chart.crds:
            objects.extend(parse_stream(crd.get("data") or crd.get("Data") or ""))
    rendered = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    for path in sorted(rendered):
        objects.extend(parse_stream(rendered[path]))
    return objects


def manifests(kind: str, namespace: str) -> list[dict]:
    out = subprocess.run([DRYDOCK, "manifests", kind, "--namespace", namespace],
                         check=True, capture_output=True, text=True).stdout
    return parse_stream(out)


def key(obj: dict) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{obj['kind']}/{ns + '/' if ns else ''}{meta.get('name')}"


def normalise(obj):
    """Parsed YAML with every ConfigMap's file (`*.yaml`, `*.json`) parsed too, so the
    comparison is of content, not of key order or quoting."""
    obj = json.loads(json.dumps(obj))
    if obj.get("kind") == "ConfigMap":
        for k, v in (obj.get("data") or {}).items():
            if k.endswith((".yaml", ".yml", ".json")):
                obj["data"][k] = yaml.safe_load(v)
    return obj


def differences(a, b, path="") -> list[str]:
    """Field-by-field differences of two parsed objects, as `path: chart … != manifests …`."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}"
            if k not in a:
                out.append(f"{sub}: missing in the chart (manifests: {json.dumps(b[k])})")
            elif k not in b:
                out.append(f"{sub}: only in the chart ({json.dumps(a[k])})")
            else:
                out.extend(differences(a[k], b[k], sub))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(differences(x, y, f"{path}[{i}]"))
        return out
    if a != b:
        return [f"{path}: chart {json.dumps(a)} != manifests {json.dumps(b)}"]
    return []


def assert_same_objects(chart_objects: list[dict], manifest_objects: list[dict]) -> None:
    chart = {key(o): normalise(o) for o in chart_objects}
    rust = {key(o): normalise(o) for o in manifest_objects}
    problems = [f"{k}: only in `drydock manifests`" for k in sorted(set(rust) - set(chart))]
    problems += [f"{k}: only in the chart" for k in sorted(set(chart) - set(rust))]
    for k in sorted(set(chart) & set(rust)):
        problems += [f"{k}{d}" for d in differences(chart[k], rust[k])]
    assert not problems, "the chart differs from `drydock manifests`:\n  " + "\n  ".join(problems)


def find(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str) -> dict:
    found = find(objects, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def reboot_container(values: dict | None = None, *, name: str = "kured",
                     namespace: str = "kube-system") -> dict:
    ds = one(render(REBOOT, values, name=name, namespace=namespace), "DaemonSet")
    return ds["spec"]["template"]["spec"]["containers"][0]


def manager_container(values: dict | None = None) -> dict:
    dep = one(render(CLEANER, values, name="eraser", namespace="kube-system"), "Deployment")
    return dep["spec"]["template"]["spec"]["containers"][0]


# === lint ===


@pytest.mark.parametrize("chart", [REBOOT, CLEANER], ids=lambda c: c.name)
def test_helm_lint_strict_passes(chart):
    report = helm.lint(chart, strict=True)
    bad = [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2]
    assert not bad and not report.get("errors"), report


@pytest.mark.parametrize("chart,values_file", [(REBOOT, "kured-chart-values.yaml"),
                                               (CLEANER, "eraser-chart-values.yaml")],
                         ids=["reboot-kured-values", "image-cleaner-eraser-values"])
def test_helm_lint_strict_passes_with_the_values_users_have(chart, values_file):
    report = helm.lint(chart, load_values(values_file), strict=True)
    bad = [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2]
    assert not bad and not report.get("errors"), report


@pytest.mark.parametrize("chart", [REBOOT, CLEANER], ids=lambda c: c.name)
def test_chart_versions_follow_the_workspace_version(chart):
    cargo = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', cargo,
                        re.M | re.S).group(1)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert (meta["version"], meta["appVersion"]) == (version, version)


# === one source of truth ===


@pytest.mark.parametrize("namespace", ["kube-system", "kured"])
def test_reboot_chart_defaults_equal_drydock_manifests_reboot(namespace):
    assert_same_objects(render(REBOOT, name="kured", namespace=namespace),
                        manifests("reboot", namespace))


def test_image_cleaner_chart_defaults_equal_drydock_manifests_image_cleaner():
    assert_same_objects(
        render(CLEANER, name="image-cleaner", namespace="kube-system", include_crds=True),
        manifests("image-cleaner", "kube-system"))


def test_image_cleaner_chart_in_another_namespace_equals_the_manifests_but_the_namespace():
    # `drydock manifests` renders the Namespace itself; Helm creates it (--create-namespace).
    rust = [o for o in manifests("image-cleaner", "eraser-system") if o["kind"] != "Namespace"]
    assert_same_objects(
        render(CLEANER, name="eraser", namespace="eraser-system", include_crds=True), rust)


def test_the_charts_crds_are_the_committed_crds():
    assert (CLEANER / "crds" / "eraser.sh.yaml").read_text() == \
        (ROOT / "deploy" / "crds" / "eraser.sh.yaml").read_text()


def test_a_difference_is_reported_by_object_and_field():
    chart = manifests("reboot", "kube-system")
    role = next(o for o in chart if o["kind"] == "ClusterRole")
    role["rules"][0]["verbs"].append("deletecollection")
    with pytest.raises(AssertionError) as err:
        assert_same_objects(chart, manifests("reboot", "kube-system"))
    assert "ClusterRole/kured.rules[0].verbs" in str(err.value)


# === the reboot chart takes kured's values ===


def test_the_kured_charts_own_values_file_installs_drydock():
    values = load_values("kured-chart-values.yaml")
    objects = render(REBOOT, values, name="kured", namespace="kube-system")
    c = one(objects, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "ghcr.io/drydock-dev/drydock:0.1.0", "kured's repository means Drydock's"
    assert c["args"][0] == "rebootd"
    for flag in ["--reboot-sentinel=/sentinel/reboot-required", "--metrics-port=8080",
                 "--reboot-command=/bin/systemctl reboot", "--log-format=text",
                 "--concurrency=1"]:
        assert flag in c["args"], c["args"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert {k for k in ("ServiceAccount", "ClusterRole", "Role", "DaemonSet")} <= \
        {o["kind"] for o in objects}


def test_the_aks_documents_set_is_honoured_not_rejected():
    values = helm.parse_set_string(AKS_SET.replace('"', ""))
    assert values == {"controller": {"nodeSelector": {"kubernetes.io/os": "linux"}}}
    values["controller"]["nodeSelector"]["agentpool"] = "user"
    ds = one(render(REBOOT, values, name="my-release", namespace="kured"), "DaemonSet")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == \
        {"kubernetes.io/os": "linux", "agentpool": "user"}


def test_release_names_follow_kureds_fullname_rule():
    assert one(render(REBOOT, name="my-release", namespace="kured"),
               "DaemonSet")["metadata"]["name"] == "my-release-kured"
    assert one(render(REBOOT, name="kured-prod", namespace="kured"),
               "DaemonSet")["metadata"]["name"] == "kured-prod"
    c = reboot_container(name="my-release", namespace="kured")
    assert "--ds-name=my-release-kured" in c["args"] and "--ds-namespace=kured" in c["args"]


# Every kured flag as a configuration key: (key, value set, the flags kured's chart renders).
CONFIGURATION = [
    ("metricsHost", "127.0.0.1", ["--metrics-host=127.0.0.1"]),
    ("metricsPort", 9090, ["--metrics-port=9090"]),
    ("lockTtl", "30m", ["--lock-ttl=30m"]),
    ("alertFilterRegexp", "^(RebootRequired|Watchdog)$",
     ["--alert-filter-regexp=^(RebootRequired|Watchdog)$"]),
    ("alertFiringOnly", True, ["--alert-firing-only=true"]),
    ("alertFilterMatchOnly", True, ["--alert-filter-match-only=true"]),
    ("blockingPodSelector", ["app=db", "app=queue"],
     ["--blocking-pod-selector=app=db", "--blocking-pod-selector=app=queue"]),
    ("endTime", "17:00", ["--end-time=17:00"]),
    ("lockAnnotation", "example.com/lock", ["--lock-annotation=example.com/lock"]),
    ("period", "5m", ["--period=5m"]),
    ("forceReboot", True, ["--force-reboot"]),
    ("drainGracePeriod", 60, ["--drain-grace-period=60"]),
    ("drainPodSelector", "app=web", ["--drain-pod-selector=app=web"]),
    ("drainDelay", "1m", ["--drain-delay=1m"]),
    ("drainTimeout", "10m", ["--drain-timeout=10m"]),
    ("skipWaitForDeleteTimeout", 30, ["--skip-wait-for-delete-timeout=30"]),
    ("prometheusUrl", "http://prometheus:9090", ["--prometheus-url=http://prometheus:9090"]),
    ("rebootDays", ["mo", "tu"], ["--reboot-days=mo", "--reboot-days=tu"]),
    ("rebootCommand", "/usr/bin/systemctl reboot", ["--reboot-command=/usr/bin/systemctl reboot"]),
    ("rebootDelay", "90s", ["--reboot-delay=90s"]),
    ("rebootMethod", "signal", ["--reboot-method=signal"]),
    ("rebootSignal", 39, ["--reboot-signal=39"]),
    ("slackChannel", "ops", ["--slack-channel=ops"]),
    ("slackHookUrl", "https://hooks.slack.com/services/{{ .Release.Namespace }}",
     ["--slack-hook-url=https://hooks.slack.com/services/kube-system"]),
    ("slackUsername", "bot", ["--slack-username=bot"]),
    ("notifyUrl", "smtp://u:p@mail:587/?fromAddress=a@x&toAddresses=b@x",
     ["--notify-url=smtp://u:p@mail:587/?fromAddress=a@x&toAddresses=b@x"]),
    ("messageTemplateDrain", "Draining: %s", ["--message-template-drain=Draining: %s"]),
    ("messageTemplateReboot", "Rebooting %s", ["--message-template-reboot=Rebooting %s"]),
    ("messageTemplateUncordon", "Back: %s", ["--message-template-uncordon=Back: %s"]),
    ("startTime", "9am", ["--start-time=9am"]),
    ("timeZone", "Europe/Berlin", ["--time-zone=Europe/Berlin"]),
    ("annotateNodes", True, ["--annotate-nodes=true"]),
    ("lockReleaseDelay", "5m", ["--lock-release-delay=5m"]),
    ("preferNoScheduleTaint", "example.com/reboot", ["--prefer-no-schedule-taint=example.com/reboot"]),
    ("logFormat", "json", ["--log-format=json"]),
    ("preRebootNodeLabels", ["a=1", "b=2"],
     ["--pre-reboot-node-labels=a=1", "--pre-reboot-node-labels=b=2"]),
    ("postRebootNodeLabels", ["c=3"], ["--post-reboot-node-labels=c=3"]),
    ("concurrency", 2, ["--concurrency=2"]),
    ("allowConcurrentControlPlaneReboots", True, ["--allow-concurrent-control-plane-reboots=true"]),
    ("maxRebootsPerDay", 5, ["--max-reboots-per-day=5"]),
    ("zoneLabel", "example.com/rack", ["--zone-label=example.com/rack"]),
    ("maxNodesPerZone", 2, ["--max-nodes-per-zone=2"]),
    ("maxZones", 1, ["--max-zones=1"]),
    ("healthGateTimeout", "5m", ["--health-gate-timeout=5m"]),
    ("windows", ["sat,sun 01:00-05:00", "first-sun 00:00-06:00 Europe/Berlin"],
     ["--window=sat,sun 01:00-05:00", "--window=first-sun 00:00-06:00 Europe/Berlin"]),
]


def test_the_configuration_table_covers_every_key_of_the_kured_chart():
    kured = set(load_values("kured-chart-values.yaml")["configuration"])
    covered = {k for k, _, _ in CONFIGURATION} | {
        "useRebootSentinelHostPath", "rebootSentinel", "rebootSentinelCommand"}
    assert kured <= covered, kured - covered


@pytest.mark.parametrize("key,value,flags", CONFIGURATION, ids=[c[0] for c in CONFIGURATION])
def test_every_configuration_key_renders_as_kureds_chart_does(key, value, flags):
    baseline = reboot_container()["args"]
    args = reboot_container({"configuration": {key: value}})["args"]
    added = [a for a in args if a not in baseline]
    assert added == flags


@pytest.mark.parametrize("key", [k for k, v, _ in CONFIGURATION if v is True])
def test_booleans_render_only_when_true(key):
    assert reboot_container({"configuration": {key: False}})["args"] == reboot_container()["args"]


def test_reboot_on_request_is_on_by_default_and_can_be_turned_off():
    assert "--reboot-on-request=true" in reboot_container()["args"]
    kured_values = load_values("kured-chart-values.yaml")
    assert "--reboot-on-request=true" in reboot_container(kured_values)["args"]
    off = reboot_container({"configuration": {"rebootOnRequest": False}})["args"]
    assert not any("reboot-on-request" in a for a in off), off


def test_health_gate_is_on_by_default_and_off_with_kureds_flags_only():
    assert "--health-gate=true" in reboot_container()["args"]
    off = reboot_container({"configuration": {"healthGate": False}})["args"]
    assert not any("health-gate" in a for a in off), off


def run_daemon_args(args: list[str]) -> subprocess.CompletedProcess:
    """The reboot daemon with the chart's args (the image's entrypoint is drydock), no cluster:
    it parses and validates every flag first, then stops at loading the kubeconfig."""
    return subprocess.run([DRYDOCK, *args], capture_output=True, text=True, timeout=60,
                          env={"KURED_NODE_ID": "node-1", "KUBECONFIG": "/nonexistent"})


def test_the_daemon_accepts_every_flag_the_chart_renders():
    values = load_values("kured-chart-values.yaml")
    values["configuration"].update({k: v for k, v, _ in CONFIGURATION})
    args = reboot_container(values, name="my-release", namespace="kured")["args"]
    assert len(args) > len(CONFIGURATION), args
    run = run_daemon_args(args)
    assert "cannot load the Kubernetes configuration" in run.stderr, run.stderr


def test_the_daemon_check_fails_on_a_flag_it_rejects():
    args = reboot_container({"configuration": {"rebootDays": ["someday"]}})["args"]
    run = run_daemon_args(args)
    assert run.returncode != 0 and "someday" in run.stderr, run.stderr


def test_the_sentinel_is_the_mounted_host_directory_by_default():
    ds = one(render(REBOOT, {"configuration": {"rebootSentinel": "/run/custom/needs-reboot",
                                               "rebootSentinelCommand": "ignored"}},
                    name="kured", namespace="kube-system"), "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert "--reboot-sentinel=/sentinel/needs-reboot" in pod["containers"][0]["args"]
    assert not any("sentinel-command" in a for a in pod["containers"][0]["args"])
    assert pod["volumes"][0]["hostPath"] == {"path": "/run/custom", "type": "Directory"}


def test_without_the_host_path_the_sentinel_flags_pass_as_given():
    values = {"configuration": {"useRebootSentinelHostPath": False,
                                "rebootSentinelCommand": "test -f /var/run/reboot-required"}}
    ds = one(render(REBOOT, values, name="kured", namespace="kube-system"), "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--reboot-sentinel=/var/run/reboot-required" in args
    assert "--reboot-sentinel-command=test -f /var/run/reboot-required" in args
    assert "volumes" not in pod and "volumeMounts" not in pod["containers"][0]


def test_the_pod_and_daemonset_values_are_rendered():
    values = {
        "extraArgs": {"log-level": "debug", "verbose": ""},
        "extraEnvVars": [{"name": "TZ", "value": "UTC"}],
        "podAnnotations": {"a": "1"}, "dsAnnotations": {"d": "2"}, "podLabels": {"team": "ops"},
        "priorityClassName": "system-node-critical", "hostNetwork": True,
        "tolerations": [{"operator": "Exists"}], "affinity": {"nodeAffinity": {}},
        "updateStrategy": "RollingUpdate", "maxUnavailable": 2, "revisionHistoryLimit": 3,
        "image": {"repository": "registry.example.com/drydock", "tag": "9.9.9",
                  "pullSecrets": [{"name": "regcred"}]},
        "containerSecurityContext": {"readOnlyRootFilesystem": False},
        "resources": {"limits": {"memory": "128Mi"}},
        "volumes": [{"name": "x", "emptyDir": {}}],
        "volumeMounts": [{"name": "x", "mountPath": "/x"}],
        "initContainers": [{"name": "init", "image": "busybox"}],
    }
    ds = one(render(REBOOT, values, name="kured", namespace="kube-system"), "DaemonSet")
    spec, pod = ds["spec"], ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][-2:] == ["--log-level=debug", "--verbose"]
    assert c["env"][1] == {"name": "TZ", "value": "UTC"}
    assert ds["metadata"]["annotations"] == {"d": "2"}
    assert ds["spec"]["template"]["metadata"]["annotations"] == {"a": "1"}
    assert ds["spec"]["template"]["metadata"]["labels"] == {"name": "kured", "team": "ops"}
    assert pod["priorityClassName"] == "system-node-critical" and pod["hostNetwork"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["affinity"] == {"nodeAffinity": {}}
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    assert spec["revisionHistoryLimit"] == 3
    assert c["image"] == "registry.example.com/drydock:9.9.9"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert c["securityContext"] == {"privileged": True, "readOnlyRootFilesystem": False}
    assert c["resources"]["limits"] == {"memory": "128Mi"}
    assert [v["name"] for v in pod["volumes"]] == ["sentinel", "x"]
    assert [m["name"] for m in c["volumeMounts"]] == ["sentinel", "x"]
    assert pod["initContainers"][0]["name"] == "init"


def test_service_servicemonitor_rbac_and_account_values():
    objects = render(REBOOT, {
        "service": {"create": True, "port": 9000, "annotations": {"s": "1"}},
        "metrics": {"create": True, "namespace": "monitoring", "labels": {"release": "prom"},
                    "interval": "30s", "scrapeTimeout": "10s"},
        "rbac": {"create": False},
        "serviceAccount": {"create": True, "name": "reboots", "extraAnnotations": {"x": "y"}},
    }, name="kured", namespace="kube-system")
    svc = one(objects, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9000 and svc["metadata"]["annotations"] == {"s": "1"}
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["interval"] == "30s"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert not find(objects, "ClusterRole") and not find(objects, "Role")
    account = one(objects, "ServiceAccount")
    assert account["metadata"]["name"] == "reboots"
    assert account["metadata"]["annotations"] == {"x": "y"}
    assert one(objects, "DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"] == "reboots"


@pytest.mark.parametrize("chart,values,named", [
    (REBOOT, {"configuration": {"rebootDayz": ["mo"]}}, "rebootDayz"),
    (REBOOT, {"tolerationz": []}, "tolerationz"),
    (REBOOT, {"image": {"repo": "x"}}, "repo"),
    (CLEANER, {"deploy": {"imagee": {}}}, "imagee"),
    (CLEANER, {"runtimeConfig": {"manager": {"schedulng": {}}}}, "schedulng"),
    (CLEANER, {"vulndb": {"source": []}}, "source"),
], ids=["reboot-configuration", "reboot-top", "reboot-image", "cleaner-deploy",
        "cleaner-runtimeConfig", "cleaner-vulndb"])
def test_a_typo_fails_naming_the_key(chart, values, named):
    with pytest.raises(helm.HelmValuesError) as err:
        render(chart, values, name="x", namespace="y")
    assert named in str(err.value)


def test_a_pod_security_policy_is_refused_with_the_reason():
    with pytest.raises(helm.HelmError) as err:
        render(REBOOT, {"podSecurityPolicy": {"create": True}}, name="kured", namespace="x")
    assert "1.25" in str(err.value)


# === the image-cleaner chart takes Eraser's values ===


def test_the_eraser_charts_values_install_drydock():
    values = load_values("eraser-chart-values.yaml")
    objects = render(CLEANER, values, name="eraser", namespace="eraser-system")
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    c = containers[0]
    assert c["image"] == "ghcr.io/drydock-dev/drydock:0.1.0", "Eraser's manager image means Drydock's"
    assert c["args"][:2] == ["manager", "--config=/config/controller_manager_config.yaml"]
    # Eraser's 30Mi stays the manager's; the index is built in a container of its own.
    assert c["resources"]["limits"] == {"memory": "30Mi"}
    assert [b["name"] for b in containers[1:]] == ["vulndb-builder"]
    assert containers[1]["resources"]["limits"] == {"memory": "128Mi"}
    config = yaml.safe_load(next(o for o in find(objects, "ConfigMap")
                                 if o["metadata"]["name"] == "eraser-manager-config")
                            ["data"]["controller_manager_config.yaml"])
    assert config["manager"]["nodeFilter"]["selectors"] == \
        ["eraser.sh/cleanup.filter", "kubernetes.io/os=windows"]
    assert config["components"]["remover"]["image"] == \
        {"repo": "ghcr.io/drydock-dev/drydock", "tag": "0.1.0"}
    assert config["health"] == {} and config["kind"] == "EraserConfig"


@pytest.mark.parametrize("values_file", [None, "eraser-chart-values.yaml"],
                         ids=["defaults", "eraser-values"])
def test_drydocks_parser_accepts_the_rendered_eraser_config(values_file, tmp_path):
    values = load_values(values_file) if values_file else {}
    objects = render(CLEANER, values, name="eraser", namespace="kube-system")
    config = next(o for o in find(objects, "ConfigMap")
                  if o["metadata"]["name"] == "eraser-manager-config")
    path = tmp_path / "controller_manager_config.yaml"
    path.write_text(config["data"]["controller_manager_config.yaml"])
    # The scanner stage reads the whole EraserConfig before anything else; with no index it
    # then stops, naming the index: getting that far means the config parsed. No pipe
    # directory: outside a pod there are no collector and remover to hand an empty list to.
    run = subprocess.run([DRYDOCK, "scanner", "--config", str(path), "--db",
                          str(tmp_path / "missing.db"), "--pipe-dir", str(tmp_path / "no-pod")],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "missing.db" in run.stderr, run.stderr


def test_a_config_drydock_rejects_is_reported_by_that_check(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\n"
                    "manager: {scheduling: {repeatInterval: bogus}}\n")
    run = subprocess.run([DRYDOCK, "scanner", "--config", str(path), "--db",
                          str(tmp_path / "missing.db"), "--pipe-dir", str(tmp_path / "no-pod")],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "missing.db" not in run.stderr
    assert "repeatInterval" in run.stderr


def test_image_cleaner_values_are_rendered():
    values = {
        "deploy": {"image": {"repo": "registry.example.com/drydock", "tag": "1.2.3"},
                   "additionalArgs": ["--log-level=debug"], "priorityClassName": "high",
                   "additionalPodLabels": {"team": "ops"}, "tolerations": [{"operator": "Exists"}],
                   "affinity": {"nodeAffinity": {}}},
        "vulndb": {"sources": ["http://mirror.internal/osv/Debian/all.zip"]},
        "runtimeConfig": {"manager": {"scheduling": {"repeatInterval": "24h"}},
                          "components": {"scanner": {"image": {"repo": "ghcr.io/eraser-dev/eraser-trivy-scanner",
                                                               "tag": "v1.4.1"}}}},
        "controller": {"nodeSelector": {"pool": "system"}},
    }
    objects = render(CLEANER, values, name="eraser", namespace="kube-system")
    dep = one(objects, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "registry.example.com/drydock:1.2.3"
    # The manager knows its own (mirrored) image, so its worker containers get Drydock's
    # stage commands although the image is not under Drydock's default repository.
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["DRYDOCK_IMAGE"] == "registry.example.com/drydock:1.2.3"
    assert c["args"][2:] == ["--vulndb-index=/var/lib/drydock/builder/index.sqlite",
                             "--log-level=debug"]
    builder = pod["containers"][1]
    assert builder["name"] == "vulndb-builder"
    assert builder["image"] == c["image"]
    assert builder["args"] == ["vulndb", "refresh", "--dir=/var/lib/drydock/builder",
                               "--source=http://mirror.internal/osv/Debian/all.zip"]
    assert pod["priorityClassName"] == "high" and pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "system"}
    assert dep["spec"]["template"]["metadata"]["labels"]["team"] == "ops"
    cms = {o["metadata"]["name"]: o for o in find(objects, "ConfigMap")}
    config = yaml.safe_load(cms["eraser-manager-config"]["data"]["controller_manager_config.yaml"])
    assert config["manager"]["scheduling"]["repeatInterval"] == "24h"
    # Keep Eraser's scanner image, Drydock's (mirrored) everywhere else.
    assert config["components"]["scanner"]["image"] == \
        {"repo": "ghcr.io/eraser-dev/eraser-trivy-scanner", "tag": "v1.4.1"}
    assert config["components"]["collector"]["image"] == \
        {"repo": "registry.example.com/drydock", "tag": "1.2.3"}
    excluded = json.loads(cms["eraser-system-exclusion"]["data"]["excluded.json"])["excluded"]
    assert excluded[0] == "registry.example.com/drydock:*"


# === install, upgrade, uninstall on a cluster ===

# Helm 4's wait strategy that waits for hooks only: on a control plane without nodes no pod
# ever becomes ready, and waiting for the workloads would only run out the timeout.
NO_WAIT = "hookOnly"

needs_cluster = pytest.mark.skipif(not KUBECONFIG, reason="DRYDOCK_CHARTS_KUBECONFIG not set")


def kubectl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--kubeconfig", KUBECONFIG, *args],
                          capture_output=True, text=True)


def all_args(workload: dict) -> list:
    """The arguments of every container of a workload, in order."""
    return [a for c in workload["spec"]["template"]["spec"]["containers"] for a in c["args"]]


@needs_cluster
@pytest.mark.parametrize("chart,values,upgrade,upgraded_arg,probe", [
    # What is tested is Helm's lifecycle of the chart's objects (the control plane has no
    # nodes, so nothing waits for pods; the real-node tier runs the pods).
    (REBOOT, load_values("kured-chart-values.yaml"),
     {"configuration": {"period": "5m"}}, "--period=5m",
     ("daemonset", "chart-test-kured")),
    (CLEANER, load_values("eraser-chart-values.yaml"),
     {"vulndb": {"sources": ["http://mirror.internal/osv/Debian/all.zip"]}},
     "--source=http://mirror.internal/osv/Debian/all.zip",
     ("deployment", "eraser-controller-manager")),
], ids=["reboot", "image-cleaner"])
def test_install_upgrade_uninstall(chart, values, upgrade, upgraded_arg, probe):
    namespace = f"drydock-chart-{uuid.uuid4().hex[:8]}"
    config = helm.Config(kubeconfig_path=KUBECONFIG, namespace=namespace)
    kind, name = probe
    try:
        config.install(chart, "chart-test", values, namespace=namespace, create_namespace=True,
                       timeout=120, wait=NO_WAIT)
        got = kubectl("get", kind, name, "-n", namespace, "-o", "json")
        assert got.returncode == 0, got.stderr
        first = all_args(json.loads(got.stdout))
        config.upgrade(chart, "chart-test", values | upgrade, namespace=namespace, timeout=120,
                       wait=NO_WAIT)
        got = kubectl("get", kind, name, "-n", namespace, "-o", "json")
        assert got.returncode == 0, got.stderr
        after = all_args(json.loads(got.stdout))
        assert upgraded_arg not in first and upgraded_arg in after, after
        assert config.status("chart-test")["revision"] == 2
        if chart == CLEANER:
            assert kubectl("get", "crd", "imagelists.eraser.sh").returncode == 0
    finally:
        config.uninstall("chart-test", ignore_not_found=True, timeout=120, wait=NO_WAIT)
    gone = kubectl("get", kind, name, "-n", namespace)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    kubectl("delete", "namespace", namespace, "--wait=false")
