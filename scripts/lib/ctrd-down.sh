#!/usr/bin/env bash
# Stops a private containerd started by ctrd-up.sh and everything it started: tasks, shims,
# mounts, cgroups. With --rm also deletes BASE. Safe to run twice.
# Usage: ctrd-down.sh BASE [--rm]
B=${1:?usage: ctrd-down.sh BASE [--rm]}
A="$B/run/containerd.sock"
PIDF="$B/containerd.pid"
if [ -S "$A" ] && ctr -a "$A" version >/dev/null 2>&1; then
  for t in $(ctr -a "$A" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$A" -n k8s.io tasks rm -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -a "$A" -n k8s.io containers ls -q 2>/dev/null); do ctr -a "$A" -n k8s.io containers rm "$c" >/dev/null 2>&1; done
fi
if [ -f "$PIDF" ]; then
  P=$(cat "$PIDF")
  kill "$P" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$P" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$P" 2>/dev/null
  rm -f "$PIDF"
fi
# If containerd died first its containers are orphans: kill them by PID, only if the PID still
# belongs to the task's cgroup.
for f in "$B"/state/io.containerd.runtime.v2.task/*/*/init.pid; do
  [ -f "$f" ] || continue
  id=$(basename "$(dirname "$f")"); p=$(cat "$f")
  grep -qF "/$id" "/proc/$p/cgroup" 2>/dev/null && kill -9 "$p" 2>/dev/null
done
for d in /proc/[0-9]*; do
  tr '\0' ' ' 2>/dev/null < "$d/cmdline" | grep -qF -- "-address $A " && kill -9 "${d#/proc/}" 2>/dev/null
done
for t in "$B"/state/io.containerd.runtime.v2.task/k8s.io/*/; do
  [ -d "$t" ] || continue
  id=$(basename "$t")
  for c in /sys/fs/cgroup/k8s.io/"$id" /sys/fs/cgroup/*/k8s.io/"$id"; do [ -d "$c" ] && rmdir "$c" 2>/dev/null; done
done
grep -F " $B/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
if [ "${2:-}" = "--rm" ]; then rm -rf "$B"; fi
exit 0
