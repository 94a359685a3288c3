#!/usr/bin/env bash
# Starts a private containerd (with its CRI plugin and runc) whose config, state, sockets and
# images all live under BASE. No systemd, no cluster, nothing shared with a system containerd.
# Usage: ctrd-up.sh BASE [overlayfs|native]
# Prints nothing on success; the socket is BASE/run/containerd.sock.
set -euo pipefail
B=${1:?usage: ctrd-up.sh BASE [snapshotter]}
SN=${2:-overlayfs}
# Unix socket paths are limited to ~104 bytes; keep BASE short (e.g. mktemp -d /tmp/ctrd.XXXXXX).
if [ ${#B} -gt 60 ]; then echo "ctrd-up: BASE path too long for a unix socket: $B" >&2; exit 1; fi
mkdir -p "$B/run" "$B/cni/net.d" "$B/certs.d"
cat > "$B/config.toml" <<TOML
version = 2
root = "$B/root"
state = "$B/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$B/run/containerd.sock"
[ttrpc]
  address = "$B/run/containerd.sock.ttrpc"
[debug]
  level = "info"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$B/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    # Must be imported before any RunPodSandbox, or containerd tries to pull it.
    sandbox_image = "${DRYDOCK_SANDBOX_IMAGE:-localhost/drydock/pause:1}"
    stream_server_address = "127.0.0.1"
    # A random port: the default 10010 would clash between parallel instances.
    stream_server_port = "0"
    enable_selinux = false
    # Without CAP_SYS_RESOURCE (CI sandboxes) every RunPodSandbox fails unless this is set.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "$B/certs.d"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$B/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "$SN"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "runc"
          Root = "$B/runc-state"
          SystemdCgroup = false
TOML
setsid containerd --config "$B/config.toml" >"$B/containerd.log" 2>&1 </dev/null &
echo $! > "$B/containerd.pid"
# Ready within ~0.1 s on a 2-core machine; give it 10 s.
for _ in $(seq 1 200); do
  if ctr --address "$B/run/containerd.sock" plugins ls 2>/dev/null | grep -qE 'io.containerd.grpc.v1 +cri .* ok'; then
    exit 0
  fi
  if ! kill -0 "$(cat "$B/containerd.pid")" 2>/dev/null; then break; fi
  sleep 0.05
done
echo "ctrd-up: containerd did not become ready; last log lines:" >&2
tail -20 "$B/containerd.log" >&2
exit 1
