#!/usr/bin/env bash
# A real-node Kubernetes cluster on this machine, for the real-node end-to-end tier: the
# standard control plane (control-plane.sh, plus kube-scheduler) and DRYDOCK_NODES (default two)
# nodes, each a kubelet with its own containerd + runc, pods on one CNI bridge per node, one
# kube-proxy (iptables) and a DNS (dnsmasq) answering <service>.<namespace>.svc.cluster.local.
# Everything runs inside a network namespace this script creates and removes: no address
# outside it is used, and the iptables rules of kubelets and kube-proxy die with it.
#
#   cluster.sh up DIR             start the cluster with state in DIR (a new directory);
#                                 writes DIR/kubeconfig (reachable inside the namespace only)
#   cluster.sh down DIR           stop everything, remove the namespace and DIR
#   cluster.sh run DIR CMD…       run CMD inside the cluster's network namespace (tests, kubectl)
#   cluster.sh node DIR NODE CMD… run CMD on NODE: its network, mount and PID namespaces (its
#                                 /run, /var/lib/containerd, /var/log/pods, …)
#   cluster.sh import DIR FILE    import an OCI archive into every node's containerd
#   cluster.sh reboot DIR NODE    reboot NODE: every process of the node killed (containerd,
#                                 kubelet, shims, containers), its runtime state and /run
#                                 dropped, a new boot ID, containerd and kubelet started again
#   cluster.sh www DIR            the base URL of DIR/www, served over HTTP inside the namespace
#   cluster.sh mem DIR            peak memory (cgroup v1 memory.max_usage_in_bytes, sampled
#                                 every second since `up`) per container: "MiB pod/container"
#
# Each node is a PID namespace with a private mount namespace (unshare): its processes see
# its own /run (so /var/run/reboot-required is per node, and a reboot clears it like a tmpfs),
# /var/lib/containerd, /var/log/pods, /var/log/containers, and a boot ID file the harness owns
# bind-mounted on /proc/sys/kernel/random/boot_id. A hostPID pod sees the node's PID 1, never
# the machine's. A node asks for its reboot through DIR/harness/nsenter, a stand-in for kured's
# `nsenter -m/proc/1/ns/mnt --` prefix that DaemonSets mount from the host: it writes
# DIR/harness/requests/<node>, and the harness's watcher reboots that node.
#
# Drydock's image is the project's own (scripts/build-image.sh, or DRYDOCK_IMAGE_BUILDER called
# with `--out FILE --tag REF`), imported as DRYDOCK_IMAGE: by default under a mirror's name, so
# every scenario also proves that worker pods run from an image that is not under Drydock's
# default repository. The pause image comes from node-images.sh. Nothing is pulled.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

NODES=(${DRYDOCK_NODES:-node-a node-b})
DRYDOCK_IMAGE=${DRYDOCK_IMAGE:-registry.example.com/mirror/drydock:e2e}
IMAGE_BUILDER=${DRYDOCK_IMAGE_BUILDER:-scripts/build-image.sh}
PAUSE_REF=registry.k8s.io/pause:3.2
K8S_VERSION=1.20.2
CACHE=${DRYDOCK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock}
# The namespace's addresses: the API server and the DNS on an interface of their own (a bridge
# with no ports: there is no dummy module here), the nodes' InternalIPs next to them, one pod
# subnet (and bridge) per node, and the Services' range (control-plane.sh's), routed to that
# interface so that processes of the namespace itself (tests, hostNetwork pods) reach Services.
NET_PREFIX=10.250.0
API_ADDRESS=$NET_PREFIX.1
DNS_ADDRESS=$NET_PREFIX.2
NODE_IP_BASE=10
POD_PREFIX=10.244
SERVICE_CIDR=10.96.0.0/16
# A static file server on the API server's address, for data pods fetch over HTTP (an OSV
# mirror for the manager's index): DIR/www at http://API_ADDRESS:WWW_PORT/.
WWW_PORT=8000
# How long a node may take to register Ready, and the whole cluster to settle.
READY_SECONDS=180
# How often the reboot requests are looked for and the containers' memory sampled, and how
# often the DNS records are refreshed from the Services (a kubectl call, ~0.2 s).
LOOP_SECONDS=1
DNS_SECONDS=0.5
# Host directories a node binds its own over (created empty if missing).
NODE_DIRS=(/var/lib/containerd /var/log/pods /var/log/containers)

die() {
  echo "cluster: $*" >&2
  exit 1
}

netns_of() { echo "drydock-$(basename "$1" | tr -c 'a-zA-Z0-9\n' -)"; }

in_netns() {
  local dir=$1
  shift
  nsenter --net="/run/netns/$(cat "$dir/netns")" "$@"
}

node_index() {
  local i
  for i in "${!NODES[@]}"; do
    [ "${NODES[$i]}" = "$2" ] && { echo "$i"; return; }
  done
  [ -f "$1/nodes/$2/index" ] && { cat "$1/nodes/$2/index"; return; }
  die "no node $2"
}

# The host PID of a node's init (PID 1 of its PID namespace), empty when the node is down.
node_init() {
  local dir=$1 node=$2 pid
  pid=$(cat "$dir/nodes/$node/init.pid" 2>/dev/null) || return 0
  # unshare --fork: the recorded PID is unshare's; its child is the namespace's PID 1.
  local child
  child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{print $1}')
  [ -n "$child" ] && echo "$child"
}

on_node() {
  local dir=$1 node=$2 init
  shift 2
  init=$(node_init "$dir" "$node")
  [ -n "$init" ] || die "node $node is down"
  nsenter --target "$init" --net --mount --pid "$@"
}

# Starts BIN in the background inside the network namespace; PID in DIR/NAME.pid.
start_bg() {
  local dir=$1 name=$2
  shift 2
  # nsenter itself, not a subshell, so that the PID is the program's (nsenter execs it).
  nsenter --net="/run/netns/$(cat "$dir/netns")" "$@" > "$dir/$name.log" 2>&1 &
  echo $! > "$dir/$name.pid"
}

write_node_files() {
  local dir=$1 node=$2 i=$3 n=$dir/nodes/$2
  mkdir -p "$n/run" "$n/lib-containerd" "$n/log-pods" "$n/log-containers" "$n/kubelet" \
    "$n/cni" "$n/volume-plugins"
  echo "$i" > "$n/index"
  cat > "$n/containerd.toml" <<TOML
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "/run/containerd/containerd.sock"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$n/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_REF"
    stream_server_address = "$NET_PREFIX.$((NODE_IP_BASE + i))"
    stream_server_port = "0"
    enable_selinux = false
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$n/cni"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "runc"
          SystemdCgroup = false
TOML
  # One bridge per node (the bridge plugin refuses a second gateway subnet on one bridge).
  cat > "$n/cni/10-drydock.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "drydock-$node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "ddbr$i",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$n/run/cni-ipam",
        "ranges": [[{"subnet": "$POD_PREFIX.$i.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  # A node's boot: bind its own directories, then containerd and the kubelet. PID 1 of the
  # node's PID namespace; killing it ends every process of the node.
  cat > "$n/boot.sh" <<SH
#!/bin/bash
set -eu
mount --bind "$n/boot_id" /proc/sys/kernel/random/boot_id
touch "$n/run/xtables.lock"
mount --bind /run/xtables.lock "$n/run/xtables.lock"
mount --rbind "$n/run" /run
mount --bind "$n/lib-containerd" /var/lib/containerd
mount --bind "$n/log-pods" /var/log/pods
mount --bind "$n/log-containers" /var/log/containers
containerd --config "$n/containerd.toml" >> "$n/containerd.log" 2>&1 &
for _ in \$(seq 200); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.05; done
ctr --address /run/containerd/containerd.sock -n k8s.io images import --all-platforms "$dir/images/pause.tar" >/dev/null
"$CACHE/kubelet-$K8S_VERSION" --v=1 \\
  --kubeconfig="$dir/cp/node-$node.kubeconfig" --hostname-override="$node" \\
  --node-ip="$NET_PREFIX.$((NODE_IP_BASE + i))" --address="$NET_PREFIX.$((NODE_IP_BASE + i))" --port=10250 \\
  --container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock \\
  --root-dir="$n/kubelet" --cert-dir="$n/kubelet/pki" --volume-plugin-dir="$n/volume-plugins" \\
  --cgroup-driver=cgroupfs --cgroups-per-qos=false --enforce-node-allocatable= \\
  --fail-swap-on=false --eviction-hard= --image-gc-high-threshold=100 --image-gc-low-threshold=99 \\
  --healthz-port=0 --read-only-port=0 --oom-score-adj=0 \\
  --pod-infra-container-image="$PAUSE_REF" \\
  --cluster-dns="$DNS_ADDRESS" --cluster-domain=cluster.local --resolv-conf="$dir/resolv.conf" \\
  >> "$n/kubelet.log" 2>&1 &
wait
SH
  chmod +x "$n/boot.sh"
}

# Boots NODE: a new boot ID, an empty /run, then boot.sh as PID 1 of a new PID namespace with a
# private mount namespace, inside the cluster's network namespace.
boot() {
  local dir=$1 node=$2 n=$dir/nodes/$2
  cat /proc/sys/kernel/random/uuid > "$n/boot_id"
  echo "== boot $(cat "$n/boot_id")" >> "$n/kubelet.log"
  nsenter --net="/run/netns/$(cat "$dir/netns")" \
    unshare --mount --pid --fork --mount-proc --propagation private \
    "$n/boot.sh" >> "$n/boot.log" 2>&1 &
  echo $! > "$n/init.pid"
  local socket_ok=
  for _ in $(seq 100); do
    if [ -n "$(node_init "$dir" "$node")" ] && on_node "$dir" "$node" test -S /run/containerd/containerd.sock 2>/dev/null; then
      socket_ok=1
      break
    fi
    sleep 0.1
  done
  [ -n "$socket_ok" ] || { tail -n 20 "$n/boot.log" "$n/containerd.log" >&2; die "node $node: containerd did not start"; }
}

# Kills every process of NODE (its PID namespace goes with its PID 1) and drops what a reboot
# drops: the containerd runtime state and the rest of /run, the pods' network namespaces.
halt() {
  local dir=$1 node=$2 n=$dir/nodes/$2 pid init
  pid=$(cat "$n/init.pid" 2>/dev/null) || return 0
  init=$(node_init "$dir" "$node")
  # The node's containers, whose cgroups runc cannot remove once it is killed with them.
  local containers=
  [ -n "$init" ] && containers=$(on_node "$dir" "$node" ctr --address /run/containerd/containerd.sock \
    -n k8s.io containers ls -q 2>/dev/null) || true
  [ -n "$init" ] && kill -9 "$init" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$n/init.pid"
  local id cgroup
  for id in $containers; do
    for cgroup in /sys/fs/cgroup/*/k8s.io/"$id"; do
      [ -d "$cgroup" ] && rmdir "$cgroup" 2>/dev/null || true
    done
  done
  # The mount namespace died with the node's last process; what it mounted is gone.
  find "$n/run" -mindepth 1 -delete 2>/dev/null || rm -rf "${n:?}/run/"* 2>/dev/null || true
}

import_all() {
  local dir=$1 file=$2 node
  for node in "${NODES[@]}"; do
    on_node "$dir" "$node" ctr --address /run/containerd/containerd.sock -n k8s.io \
      images import --all-platforms "$file" >/dev/null
  done
}

wait_nodes_ready() {
  local dir=$1 want=$2
  for _ in $(seq "$READY_SECONDS"); do
    local ready
    ready=$(in_netns "$dir" kubectl --kubeconfig "$dir/kubeconfig" get nodes --no-headers 2>/dev/null \
      | awk '$2 == "Ready"' | wc -l)
    [ "$ready" -ge "$want" ] && return 0
    sleep 1
  done
  return 1
}

# The background loops: DNS records from the Services; reboot requests and memory samples.
loops() {
  local dir=$1
  # The DNS records first, in a loop of their own: a new Service's name must resolve before
  # the pods that were created with it look it up.
  cat > "$dir/dns-loop.sh" <<SH
#!/bin/bash
# Refreshes the DNS hosts file from the Services; dnsmasq re-reads it on SIGHUP.
while :; do
  kubectl --kubeconfig "$dir/kubeconfig" get services -A \\
    -o jsonpath='{range .items[*]}{.spec.clusterIP} {.metadata.name}.{.metadata.namespace}.svc.cluster.local{"\\n"}{end}' \\
    2>/dev/null | awk '\$1 ~ /^[0-9.]+\$/' > "$dir/dns/hosts.new"
  if ! cmp -s "$dir/dns/hosts.new" "$dir/dns/hosts"; then
    mv "$dir/dns/hosts.new" "$dir/dns/hosts"
    kill -HUP "\$(cat "$dir/dnsmasq.pid")" 2>/dev/null
  fi
  sleep $DNS_SECONDS
done
SH
  chmod +x "$dir/dns-loop.sh"
  start_bg "$dir" dns-loop "$dir/dns-loop.sh"
  cat > "$dir/loops.sh" <<SH
#!/bin/bash
# Reboots the nodes that asked for it, samples the containers' peak memory.
while :; do
  for request in "$dir"/harness/requests/*; do
    [ -f "\$request" ] || continue
    node=\$(basename "\$request")
    rm -f "\$request"
    echo "\$(date -u +%FT%TZ) reboot \$node" >> "$dir/reboots.log"
    "$ROOT/scripts/lib/cluster.sh" reboot "$dir" "\$node" >> "$dir/reboots.log" 2>&1
  done
  python3 "$dir/memsample.py" "$dir" 2>>"$dir/memsample.log"
  sleep $LOOP_SECONDS
done
SH
  chmod +x "$dir/loops.sh"
  # One sample: every container cgroup under the memory hierarchy, its peak so far, named
  # from the containerd of the node that runs it (state kept in DIR/mem.json).
  cat > "$dir/memsample.py" <<'PY'
import json, os, subprocess, sys
dir = sys.argv[1]
path = os.path.join(dir, "mem.json")
try:
    state = json.load(open(path))
except (OSError, ValueError):
    state = {}
root = "/sys/fs/cgroup/memory"
names = state.setdefault("names", {})
peaks = state.setdefault("peaks", {})
for base, dirs, _ in os.walk(root):
    for d in dirs:
        if len(d) == 64 and all(c in "0123456789abcdef" for c in d):
            try:
                value = int(open(os.path.join(base, d, "memory.max_usage_in_bytes")).read())
            except (OSError, ValueError):
                continue
            peaks[d] = max(peaks.get(d, 0), value)
unknown = [c for c in peaks if c not in names]
if unknown:
    for node in os.listdir(os.path.join(dir, "nodes")):
        try:
            pid = open(os.path.join(dir, "nodes", node, "init.pid")).read().split()[0]
            child = open(f"/proc/{pid}/task/{pid}/children").read().split()[0]
            def ctr(*args):
                return subprocess.run(
                    ["nsenter", "--target", child, "--mount", "--pid", "ctr", "--address",
                     "/run/containerd/containerd.sock", "-n", "k8s.io", *args],
                    capture_output=True, text=True, timeout=10).stdout
            for cid in ctr("containers", "ls", "-q").split():
                if cid not in unknown:
                    continue
                labels = json.loads(ctr("containers", "info", cid) or "{}").get("Labels") or {}
                # A pod's sandbox (pause) container has no container name label.
                names[cid] = "%s %s/%s/%s" % (
                    node, labels.get("io.kubernetes.pod.namespace", "?"),
                    labels.get("io.kubernetes.pod.name", "?"),
                    labels.get("io.kubernetes.container.name", "(sandbox)"))
        except (OSError, IndexError, ValueError, subprocess.SubprocessError):
            continue
json.dump(state, open(path + ".new", "w"))
os.replace(path + ".new", path)
PY
  start_bg "$dir" loops "$dir/loops.sh"
}

up() {
  local dir=$1
  [ "$(id -u)" = 0 ] || die "needs root (network, mount and PID namespaces)"
  [ ! -e "$dir" ] || [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  scripts/lib/install-deps.sh containernetworking-plugins dnsmasq-base iptables conntrack iproute2 \
    gcc libc6-dev >&2
  command -v kubectl >/dev/null || scripts/lib/install-deps.sh kubernetes-client >&2
  scripts/lib/control-plane.sh build >/dev/null
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local ns
  ns=$(netns_of "$dir")
  echo "$ns" > "$dir/netns"
  ip netns add "$ns"
  in_netns "$dir" ip link set lo up
  in_netns "$dir" ip link add dd0 type bridge
  in_netns "$dir" ip link set dd0 up
  in_netns "$dir" ip addr add "$API_ADDRESS/32" dev dd0
  in_netns "$dir" ip addr add "$DNS_ADDRESS/32" dev dd0
  local i
  for i in "${!NODES[@]}"; do
    in_netns "$dir" ip addr add "$NET_PREFIX.$((NODE_IP_BASE + i))/32" dev dd0
  done
  in_netns "$dir" ip route add "$SERVICE_CIDR" dev dd0
  in_netns "$dir" sysctl -qw net.ipv4.ip_forward=1
  touch /run/xtables.lock
  for d in "${NODE_DIRS[@]}"; do mkdir -p "$d"; done

  echo "== images" >&2
  mkdir -p "$dir/images" "$dir/harness/requests" "$dir/dns"
  scripts/lib/node-images.sh pause --out "$dir/images/pause.tar" --tag "$PAUSE_REF"
  # shellcheck disable=SC2086 # the builder is a command line
  $IMAGE_BUILDER --out "$dir/images/drydock.tar" --tag "$DRYDOCK_IMAGE"
  # The reboot stand-in DaemonSets mount (DIR/harness): a static busybox runs the script in
  # images without a shell.
  cp /bin/busybox "$dir/harness/busybox"
  cat > "$dir/harness/nsenter" <<SH
#!$dir/harness/busybox sh
# Stand-in for kured's \`nsenter -m/proc/1/ns/mnt -- CMD\`: asks the harness to reboot this
# node (KURED_NODE_ID) instead of running CMD.
echo "\$*" > "$dir/harness/requests/\${KURED_NODE_ID:?}"
SH
  chmod +x "$dir/harness/nsenter"

  echo "== control plane" >&2
  DRYDOCK_CP_ADDRESS=$API_ADDRESS DRYDOCK_CP_NODES="${NODES[*]}" DRYDOCK_CP_SCHEDULER=1 \
    in_netns "$dir" scripts/lib/control-plane.sh up "$dir/cp"
  cp "$dir/cp/kubeconfig" "$dir/kubeconfig"

  echo "== DNS, kube-proxy" >&2
  : > "$dir/dns/hosts"
  echo "nameserver $DNS_ADDRESS" > "$dir/resolv.conf"
  start_bg "$dir" dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts \
    --listen-address="$DNS_ADDRESS" --bind-interfaces --addn-hosts="$dir/dns/hosts" \
    --local=/cluster.local/ --pid-file= --user=root --log-facility=- --log-queries
  start_bg "$dir" kube-proxy "$CACHE/kube-proxy-$K8S_VERSION" \
    --kubeconfig="$dir/cp/kube-proxy.kubeconfig" --hostname-override="${NODES[0]}" \
    --proxy-mode=iptables --masquerade-all --cluster-cidr="$POD_PREFIX.0.0/16" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
    --conntrack-tcp-timeout-close-wait=0 --oom-score-adj=0 \
    --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256

  mkdir -p "$dir/www"
  start_bg "$dir" www python3 -m http.server --bind "$API_ADDRESS" --directory "$dir/www" "$WWW_PORT"

  echo "== nodes: ${NODES[*]}" >&2
  for i in "${!NODES[@]}"; do
    write_node_files "$dir" "${NODES[$i]}" "$i"
    boot "$dir" "${NODES[$i]}"
    on_node "$dir" "${NODES[$i]}" ctr --address /run/containerd/containerd.sock -n k8s.io \
      images import --all-platforms "$dir/images/drydock.tar" >/dev/null
  done
  loops "$dir"
  if ! wait_nodes_ready "$dir" "${#NODES[@]}"; then
    for i in "${NODES[@]}"; do tail -n 20 "$dir/nodes/$i/kubelet.log" >&2; done
    die "the nodes did not become Ready within ${READY_SECONDS} s"
  fi
  echo "cluster ready: $dir/kubeconfig (inside: cluster.sh run $dir CMD…)" >&2
}

reboot_node() {
  local dir=$1 node=$2
  [ -d "$dir/nodes/$node" ] || die "no node $node"
  halt "$dir" "$node"
  boot "$dir" "$node"
  echo "node $node rebooted: boot ID $(cat "$dir/nodes/$node/boot_id")" >&2
}

mem() {
  local dir=$1
  python3 - "$dir/mem.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
rows = {}
for cid, peak in state.get("peaks", {}).items():
    name = state.get("names", {}).get(cid)
    if name:
        rows[name] = max(rows.get(name, 0), peak)
for name, peak in sorted(rows.items()):
    print("%.1f %s" % (peak / 1048576, name))
PY
}

down() {
  local dir=$1 node pid
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  for name in loops dns-loop www kube-proxy dnsmasq; do
    pid=$(cat "$dir/$name.pid" 2>/dev/null) || continue
    pkill -9 -P "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  done
  for node in "$dir"/nodes/*; do
    [ -d "$node" ] && halt "$dir" "$(basename "$node")"
  done
  [ -d "$dir/cp" ] && scripts/lib/control-plane.sh down "$dir/cp"
  [ -f "$dir/netns" ] && ip netns delete "$(cat "$dir/netns")" 2>/dev/null || true
  rm -rf "$dir"
}

case "${1:-}" in
  up) up "${2:?usage: cluster.sh up DIR}" ;;
  down) down "${2:?usage: cluster.sh down DIR}" ;;
  run) dir=${2:?usage: cluster.sh run DIR CMD…}; shift 2; in_netns "$dir" "$@" ;;
  node) dir=${2:?usage: cluster.sh node DIR NODE CMD…}; node=${3:?}; shift 3; on_node "$dir" "$node" "$@" ;;
  import)
    dir=${2:?usage: cluster.sh import DIR FILE}; file=${3:?usage: cluster.sh import DIR FILE}
    # A reboot keeps them: containerd's image store (/var/lib/containerd) is not runtime state.
    import_all "$dir" "$file"
    ;;
  reboot) reboot_node "${2:?usage: cluster.sh reboot DIR NODE}" "${3:?usage: cluster.sh reboot DIR NODE}" ;;
  mem) mem "${2:?usage: cluster.sh mem DIR}" ;;
  www) echo "http://$API_ADDRESS:$WWW_PORT" ;;
  *) echo "usage: cluster.sh up DIR | down DIR | run DIR CMD… | node DIR NODE CMD… | import DIR FILE | reboot DIR NODE | mem DIR | www DIR" >&2; exit 2 ;;
esac
