#!/usr/bin/env bash
# Measures the Image Cleaner manager's peak memory (VmHWM of the release binary) with NODES
# fake Nodes (default 5,000) and the worker pods of its automatic run cached, against a real
# API server (a private control plane, scripts/lib/control-plane.sh): the Eraser chart's limit
# for the manager is 30Mi. Prints the figure and exits 1 when it is at or over LIMIT_MIB.
#
# The manager runs with the configuration `drydock manifests image-cleaner` renders (scanner
# on, its index built from the repository's demo OSV records, so the figure is the manager's
# caches and not an OSV dump's size). Nodes have no kubelet: the worker pods it creates stay
# Pending, all of them in its watch cache.
# With VULNDB_INDEX (an index file, e.g. the full-size one of scripts/bench-vulndb.sh) the
# manager runs as in its pod: it builds nothing and serves that file (`--vulndb-index`), and the
# script downloads it from the manager twice while sampling, so the figure includes serving it.
# Usage: scripts/bench-manager-memory.sh [NODES]   (env: DRYDOCK = a release binary,
# LIMIT_MIB = 30, SETTLE_S = seconds to keep watching once every pod exists, VULNDB_INDEX)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${1:-5000}
LIMIT_MIB=${LIMIT_MIB:-30}
SETTLE_S=${SETTLE_S:-20}
# Nodes per kubectl call: one request per object either way, smaller Lists only bound memory.
CHUNK=500
NS=drydock-bench

if [ -z "${DRYDOCK:-}" ]; then
  echo "== building drydock (release)" >&2
  cargo build --quiet --release --locked -p drydock --bin drydock
  DRYDOCK=${CARGO_TARGET_DIR:-target}/release/drydock
fi
command -v kubectl >/dev/null || scripts/lib/install-deps.sh kubernetes-client

W=$(mktemp -d /tmp/drydock-bench-mem.XXXXXX)
manager_pid=
cleanup() {
  [ -n "$manager_pid" ] && kill "$manager_pid" 2>/dev/null && wait "$manager_pid" 2>/dev/null
  scripts/lib/control-plane.sh down "$W/cp" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

scripts/lib/control-plane.sh up "$W/cp" >&2
export KUBECONFIG=$W/cp/kubeconfig
kubectl create namespace "$NS" >/dev/null
# What an install creates, but the manager's Deployment (the manager runs here, as a process).
"$DRYDOCK" manifests image-cleaner -n "$NS" > "$W/manifests.yaml"
python3 - "$W" <<'PY'
import json, sys, yaml
w = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{w}/manifests.yaml")) if d]
keep = [d for d in docs if d["kind"] not in ("Deployment", "Service")]
json.dump({"apiVersion": "v1", "kind": "List", "items": keep}, open(f"{w}/install.json", "w"))
config = next(d for d in docs if d["kind"] == "ConfigMap"
              and d["metadata"]["name"] == "eraser-manager-config")
open(f"{w}/config.yaml", "w").write(config["data"]["controller_manager_config.yaml"])
PY
kubectl apply -f "$W/install.json" >/dev/null
python3 -m zipfile -c "$W/all.zip" testdata/osv/*.json

echo "== $NODES nodes" >&2
start=$(date +%s)
python3 - "$W" "$NODES" "$CHUNK" <<'PY'
import json, sys
w, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for c in range(0, n, chunk):
    items = [{"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": f"bench-{i:05d}",
                           "labels": {"kubernetes.io/os": "linux",
                                      "kubernetes.io/hostname": f"bench-{i:05d}"}}}
             for i in range(c, min(n, c + chunk))]
    json.dump({"apiVersion": "v1", "kind": "List", "items": items},
              open(f"{w}/nodes-{c // chunk:04d}.json", "w"))
PY
for f in "$W"/nodes-*.json; do kubectl create -f "$f" >/dev/null; done
echo "   created in $(( $(date +%s) - start )) s" >&2

echo "== manager (release binary $DRYDOCK)" >&2
vulndb_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ -n "${VULNDB_INDEX:-}" ]; then
  vulndb=(--vulndb-index="$VULNDB_INDEX")
else
  vulndb=(--vulndb-source="$W/all.zip")
fi
"$DRYDOCK" manager --config="$W/config.yaml" --namespace="$NS" \
  --kubeconfig="$KUBECONFIG" --metrics-addr=127.0.0.1:0 --health-addr=127.0.0.1:0 \
  --vulndb-addr="127.0.0.1:$vulndb_port" "${vulndb[@]}" --vulndb-dir="$W/vulndb" \
  > "$W/manager.log" 2>&1 &
manager_pid=$!
# VmHWM counts the binary's resident text too (file pages, reclaimable); the anonymous part
# (heap: the caches) is sampled at every look, its peak kept.
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$manager_pid/status"; }
anon_peak=0
sample() {
  local anon
  anon=$(status_kb RssAnon)
  [ "${anon:-0}" -gt "$anon_peak" ] && anon_peak=$anon
  return 0
}
pods=0
start=$(date +%s)
while [ "$pods" -lt "$NODES" ]; do
  kill -0 "$manager_pid" 2>/dev/null || { echo "the manager exited:" >&2; tail -20 "$W/manager.log" >&2; exit 1; }
  sleep 2
  sample
  pods=$(kubectl get pods -n "$NS" --no-headers 2>/dev/null | wc -l)
  if [ $(( $(date +%s) - start )) -gt 1800 ]; then
    echo "only $pods of $NODES worker pods after 30 min" >&2; exit 1
  fi
done
echo "   $pods worker pods in $(( $(date +%s) - start )) s; settling ${SETTLE_S} s" >&2
for _ in $(seq "$SETTLE_S"); do sleep 1; sample; done
if [ -n "${VULNDB_INDEX:-}" ]; then
  for n in 1 2; do
    python3 - "http://127.0.0.1:$vulndb_port/v1/vulndb" <<'PY' &
import sys, time, urllib.error, urllib.request
for _ in range(300):  # 503 until the manager has adopted (hashed) the index
    try:
        with urllib.request.urlopen(sys.argv[1]) as r:
            while r.read(1 << 20):
                pass
        break
    except urllib.error.HTTPError as e:
        if e.code != 503:
            raise
        time.sleep(1)
else:
    sys.exit("the manager never served the index")
PY
    fetch=$!
    while kill -0 "$fetch" 2>/dev/null; do sleep 0.5; sample; done
    wait "$fetch" || { echo "download $n of the index from the manager failed" >&2; exit 1; }
    echo "   index downloaded from the manager ($n)" >&2
  done
fi
# One worker pod per node is expected; more names what went wrong.
kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.spec.nodeName} {.metadata.ownerReferences[0].name}{"\n"}{end}' \
  | sort | uniq -c | awk '$1 > 1 {n++; if (n <= 5) print "   more than one worker pod:", $0} END {print "   nodes with more than one worker pod:", n + 0}' >&2
kubectl get imagejobs -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,DESIRED:.status.desired --no-headers >&2
grep -ciE '"level":"(WARN|ERROR)"' "$W/manager.log" | sed 's/^/   manager warnings and errors: /' >&2 || true
grep -iE '"level":"(WARN|ERROR)"' "$W/manager.log" | cut -c1-300 | sort | uniq | head -5 >&2 || true
kb=$(status_kb VmHWM)
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
echo "manager with $NODES nodes and $pods worker pods cached: peak RSS (VmHWM) $(mib "$kb") MiB, of it anonymous (sampled peak) $(mib "$anon_peak") MiB (limit ${LIMIT_MIB} MiB)"
awk -v kb="$kb" -v lim="$LIMIT_MIB" 'BEGIN { exit !(kb < lim * 1024) }'
