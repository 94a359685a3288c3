#!/usr/bin/env bash
# Measures the Image Cleaner manager's memory with NODES fake Nodes (default 5,000) and the
# worker pods of its automatic run cached, against a real API server (a private control plane,
# scripts/lib/control-plane.sh), the manager (a release binary) running in a memory cgroup of
# its own limited to LIMIT_MIB (default 30: the Eraser chart's limit for the manager). The
# binary is copied and its page cache dropped from inside the cgroup, so the pages the manager
# runs from are faulted in and charged there (stricter than a pod, whose image files are
# usually charged to the runtime that unpacked them).
#
# It fails (exit 1) when the manager is OOM-killed or exits, when a node gets more than one
# worker pod or none, when the ImageJob is not Running with every node desired, or when the
# peak RSS (VmHWM) is at or over the limit. It prints VmHWM, the sampled peak of anonymous
# memory (RssAnon: the heap, the caches), and the cgroup's peak, anon/file split and OOM kills.
#
# The manager runs with the configuration `drydock manifests image-cleaner` renders (scanner
# on, its index built from the repository's demo OSV records, so the figure is the manager's
# caches and not an OSV dump's size). Nodes have no kubelet: the worker pods it creates stay
# Pending, all of them in its watch cache. Needs root and the cgroup memory controller (v2,
# or v1 as on hosts with a split hierarchy).
#
# Disk readahead is the kernel's read-around for every page fault on the binary: with a
# node-like 128 KiB the text the manager runs from fits in the cgroup beside its heap, but
# with a virtual disk's 8 MiB every fault reads 8 MiB into a 30 MiB cgroup and the manager
# thrashes on its own text (tens of thousands of faults, a few pods a minute). When the disk
# under the scratch directory reads ahead more than READAHEAD_KB, the binary is copied to a
# small loop-mounted file system with READAHEAD_KB instead (removed at the end).
# With VULNDB_INDEX (an index file, e.g. the full-size one of scripts/bench-vulndb.sh) the
# manager runs as in its pod: it builds nothing and serves that file (`--vulndb-index`), and the
# script downloads it from the manager twice while sampling, so the figure includes serving it.
# Usage: scripts/bench-manager-memory.sh [NODES]   (env: DRYDOCK = a release binary,
# LIMIT_MIB = 30, SETTLE_S = seconds to keep watching once every pod exists,
# READAHEAD_KB = 128, VULNDB_INDEX)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${1:-5000}
LIMIT_MIB=${LIMIT_MIB:-30}
SETTLE_S=${SETTLE_S:-20}
READAHEAD_KB=${READAHEAD_KB:-128}
# Size of the loop file system that holds the binary when the disk reads ahead too much.
LOOP_MIB=96
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
# The manager's cgroup: v2 where the unified hierarchy has the memory controller, else v1.
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  CG=/sys/fs/cgroup/drydock-bench-mem.$$
  mkdir "$CG"
  echo $(( LIMIT_MIB * 1024 * 1024 )) > "$CG/memory.max"
  cg_peak() { cat "$CG/memory.peak" 2>/dev/null || echo 0; }
  # A write resets memory.peak for the writer's file descriptor only: nothing to reset.
  CG_RESET=
  cg_ooms() { awk '$1 == "oom_kill" {print $2}' "$CG/memory.events"; }
  cg_anon() { awk '$1 == "anon" {print int($2 / 1024)}' "$CG/memory.stat"; }
  cg_stat() { awk '$1 == "anon" || $1 == "file" {printf "%s %.1f MiB, ", $1, $2 / 1048576}' "$CG/memory.stat"; }
else
  CG=/sys/fs/cgroup/memory/drydock-bench-mem.$$
  mkdir "$CG"
  echo $(( LIMIT_MIB * 1024 * 1024 )) > "$CG/memory.limit_in_bytes"
  cg_peak() { cat "$CG/memory.max_usage_in_bytes"; }
  CG_RESET=$CG/memory.max_usage_in_bytes
  cg_ooms() { awk '$1 == "oom_kill" {print $2}' "$CG/memory.oom_control"; }
  cg_anon() { awk '$1 == "rss" {print int($2 / 1024)}' "$CG/memory.stat"; }
  cg_stat() { awk '$1 == "rss" || $1 == "cache" {printf "%s %.1f MiB, ", ($1 == "rss" ? "anon" : "file"), $2 / 1048576}' "$CG/memory.stat"; }
fi
manager_pid=
loop=
cleanup() {
  [ -n "$manager_pid" ] && kill "$manager_pid" 2>/dev/null && wait "$manager_pid" 2>/dev/null
  scripts/lib/control-plane.sh down "$W/cp" >/dev/null 2>&1 || true
  if [ -n "$loop" ]; then
    umount "$W/bin" 2>/dev/null || true
    losetup -d "$loop" 2>/dev/null || true
  fi
  rm -rf "$W"
  # Empty now (the manager is gone); its charged page cache leaves with the directory.
  rmdir "$CG" 2>/dev/null || true
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

# Where the binary is copied: the scratch directory, or a loop file system with a node-like
# readahead when the scratch directory's disk reads ahead more.
mkdir "$W/bin"
disk=$(lsblk -no PKNAME "$(df --output=source "$W" | tail -n 1)" 2>/dev/null || true)
disk=${disk:-$(basename "$(df --output=source "$W" | tail -n 1)")}
readahead=$(cat "/sys/block/$disk/queue/read_ahead_kb" 2>/dev/null || echo 0)
if [ "$readahead" -gt "$READAHEAD_KB" ]; then
  truncate -s "${LOOP_MIB}M" "$W/bin.img"
  mkfs.ext4 -q "$W/bin.img"
  loop=$(losetup --find --show "$W/bin.img")
  echo "$READAHEAD_KB" > "/sys/block/${loop#/dev/}/queue/read_ahead_kb"
  mount "$loop" "$W/bin"
  echo "   $disk reads ahead ${readahead} KiB: the binary runs from $loop (${READAHEAD_KB} KiB)" >&2
fi
vulndb_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ -n "${VULNDB_INDEX:-}" ]; then
  vulndb=(--vulndb-index="$VULNDB_INDEX")
else
  vulndb=(--vulndb-source="$W/all.zip")
fi
echo "== manager (release binary $DRYDOCK) in $CG, limit ${LIMIT_MIB} MiB" >&2
# Into the cgroup first, then copy the binary and drop the copy's page cache, so the pages the
# manager runs from are faulted in, and charged, inside the cgroup; the peak restarts there.
sh -c 'echo $$ > "$1/cgroup.procs" && cp "$2" "$4" && python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
" "$4" && { [ -z "$3" ] || echo 0 > "$3"; } && shift 3 && exec "$@"' sh \
  "$CG" "$DRYDOCK" "$CG_RESET" "$W/bin/drydock" manager --config="$W/config.yaml" --namespace="$NS" \
  --kubeconfig="$KUBECONFIG" --metrics-addr=127.0.0.1:0 --health-addr=127.0.0.1:0 \
  --vulndb-addr="127.0.0.1:$vulndb_port" "${vulndb[@]}" --vulndb-dir="$W/vulndb" \
  > "$W/manager.log" 2>&1 &
manager_pid=$!
# VmHWM counts the binary's resident text too (file pages, reclaimable); the anonymous part
# (heap: the caches) is sampled at every look, its peak kept.
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$manager_pid/status"; }
anon_peak=0
cg_anon_peak=0
sample() {
  local anon
  anon=$(status_kb RssAnon)
  [ "${anon:-0}" -gt "$anon_peak" ] && anon_peak=$anon
  anon=$(cg_anon)
  [ "${anon:-0}" -gt "$cg_anon_peak" ] && cg_anon_peak=$anon
  return 0
}
# Fails the bench when the manager is gone, saying whether the cgroup's OOM killer took it.
alive() {
  kill -0 "$manager_pid" 2>/dev/null && return 0
  echo "the manager exited (cgroup OOM kills: $(cg_ooms)):" >&2
  tail -20 "$W/manager.log" >&2
  exit 1
}
pods=0
start=$(date +%s)
while [ "$pods" -lt "$NODES" ]; do
  alive
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
alive
failed=0
# Exactly one worker pod per node: more (or none) names what went wrong.
kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c > "$W/per-node"
awk '$1 > 1' "$W/per-node" | head -5 | sed 's/^/   more than one worker pod: /' >&2
twice=$(awk '$1 > 1 {n++} END {print n + 0}' "$W/per-node")
covered=$(wc -l < "$W/per-node")
echo "   nodes with more than one worker pod: $twice; nodes with a worker pod: $covered of $NODES" >&2
[ "$twice" -eq 0 ] && [ "$covered" -eq "$NODES" ] || failed=1
kubectl get imagejobs -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,DESIRED:.status.desired --no-headers > "$W/jobs"
sed 's/^/   /' "$W/jobs" >&2
awk -v n="$NODES" 'END {exit !(NR == 1 && $2 == "Running" && $3 == n)}' "$W/jobs" || {
  echo "   expected one ImageJob, Running, desired $NODES" >&2; failed=1; }
grep -ciE '"level":"(WARN|ERROR)"' "$W/manager.log" | sed 's/^/   manager warnings and errors: /' >&2 || true
grep -iE '"level":"(WARN|ERROR)"' "$W/manager.log" | cut -c1-300 | sort | uniq | head -5 >&2 || true
kb=$(status_kb VmHWM)
ooms=$(cg_ooms)
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
echo "manager with $NODES nodes and $pods worker pods cached: peak RSS (VmHWM) $(mib "$kb") MiB, of it anonymous (sampled peak) $(mib "$anon_peak") MiB (limit ${LIMIT_MIB} MiB)"
echo "cgroup (limit ${LIMIT_MIB} MiB): peak $(mib $(( $(cg_peak) / 1024 ))) MiB (page cache included), anonymous (sampled peak) $(mib "$cg_anon_peak") MiB; at the end $(cg_stat)OOM kills ${ooms:-?}"
[ "${ooms:-1}" -eq 0 ] || failed=1
awk -v kb="$kb" -v lim="$LIMIT_MIB" 'BEGIN { exit !(kb < lim * 1024) }' || failed=1
exit "$failed"
