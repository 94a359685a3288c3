#!/usr/bin/env bash
# A private, standard Kubernetes control plane for the end-to-end tiers (tests/e2e): etcd,
# kube-apiserver with its default admission plugins, kube-controller-manager (ServiceAccounts
# and their tokens, node lifecycle, garbage collection, …) and optionally kube-scheduler, with
# an admin token in a kubeconfig.
#
#   control-plane.sh build        build the server binaries once (cached: kube-apiserver,
#                                 kube-controller-manager, kube-scheduler, kubelet, kube-proxy),
#                                 print kube-apiserver's path
#   control-plane.sh up DIR       start the control plane with state in DIR; writes
#                                 DIR/kubeconfig and returns once it is ready
#   control-plane.sh down DIR     stop it and remove DIR
#
# `up` reads: DRYDOCK_CP_ADDRESS, the address the API server binds and advertises (default
# 127.0.0.1; a real-node cluster gives a non-loopback one, see cluster.sh); DRYDOCK_CP_NODES,
# node names to write DIR/node-<name>.kubeconfig for (identity system:node:<name>);
# DRYDOCK_CP_SCHEDULER=1 to start kube-scheduler. DIR/kube-proxy.kubeconfig is always written.
#
# No Kubernetes server binary can be downloaded here, so they are built from the source Debian
# ships for its kubernetes-client package (1.20.2; the newest Debian has), with Debian's Go and
# etcd. Two repairs make that source build with Go 1.19: the generated OpenAPI
# definitions (not in the tarball) are generated with the tree's own openapi-gen, and the
# vendored reflect2 1.0.1, which crashes on Go >= 1.18, is replaced by Debian's 1.0.2.
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSION=1.20.2
ORIG=kubernetes_1.20.5+really1.20.2.orig.tar.gz
ORIG_SHA256=b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc
# Where the tarball lives inside a Debian archive; the archive's address comes from this
# machine's apt configuration (debian_archives), so a mirror the machine uses is used here too.
POOL_PATH=pool/main/k/kubernetes
CACHE=${DRYDOCK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock}
# The server binaries built from that source, each cached as $CACHE/<name>-$K8S_VERSION.
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
BIN=$CACHE/kube-apiserver-$K8S_VERSION
# The admin's bearer token; the server listens on loopback only and lives for one test run.
TOKEN=drydock-e2e-admin
# How long the server may take to become ready (it builds its caches and RBAC bootstrap).
READY_SECONDS=120

# The Debian archives apt uses on this machine, one base address a line (security archives
# left out: they hold no source tarballs of this age). Read from the one-line format
# (`deb [opts] URI suite …` in sources.list and sources.list.d/*.list) and from deb822
# `URIs:` fields (sources.list.d/*.sources). DRYDOCK_DEBIAN_ARCHIVE overrides them all.
debian_archives() {
  if [ -n "${DRYDOCK_DEBIAN_ARCHIVE:-}" ]; then
    echo "$DRYDOCK_DEBIAN_ARCHIVE"
    return
  fi
  local files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk '
    /^[[:space:]]*#/ { next }
    $1 == "deb" || $1 == "deb-src" {
      for (i = 2; i <= NF; i++) {
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; continue }
        print $i; break
      }
    }
    tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }
  ' "${files[@]}" | sed 's#/*$##' | grep -E '^https?://' | grep -v -e '-security$' | awk '!seen[$0]++'
}

# The missing components, built from Debian's kubernetes source in one `go build` (so the
# packages they share compile once); components already cached are not rebuilt.
build_missing() {
  local missing=() c
  for c in "${COMPONENTS[@]}"; do
    [ -x "$CACHE/$c-$K8S_VERSION" ] || missing+=("$c")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  scripts/lib/install-deps.sh golang-go etcd-server golang-github-modern-go-reflect2-dev curl openssl >&2
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  local archives archive got=
  archives=$(debian_archives)
  [ -n "$archives" ] || { echo "no Debian archive in the apt configuration (set DRYDOCK_DEBIAN_ARCHIVE)" >&2; exit 1; }
  for attempt in 1 2 3 4 5 6; do
    for archive in $archives; do
      echo "downloading $ORIG from $archive" >&2
      if curl -fsSL -o "$work/$ORIG" "$archive/$POOL_PATH/$ORIG"; then got=1; break 2; fi
    done
    echo "download failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  [ -n "$got" ] || { echo "cannot download $ORIG from: $archives" >&2; exit 1; }
  echo "$ORIG_SHA256  $work/$ORIG" | sha256sum -c --quiet
  mkdir -p "$work/go/src/k8s.io"
  tar -xzf "$work/$ORIG" -C "$work"
  mv "$work/kubernetes-$K8S_VERSION" "$work/go/src/k8s.io/kubernetes"
  local tree=$work/go/src/k8s.io/kubernetes
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
  rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"
  export GOPATH=$work/go GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE=$work/gocache
  (
    cd "$tree"
    echo "building openapi-gen and generating the OpenAPI definitions" >&2
    go build -o "$work/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
    # The packages that ask for OpenAPI generation, as the tree's Makefile finds them (-R:
    # vendor/k8s.io/* are symlinks into staging/).
    local inputs
    inputs=$(grep -Rl --include='*.go' '+k8s:openapi-gen=' pkg cmd plugin vendor/k8s.io \
      | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' -e '_test.go$' \
      | xargs -n1 dirname | LC_ALL=C sort -u | sed 's#^#k8s.io/kubernetes/#' | paste -sd, -)
    "$work/openapi-gen" --logtostderr -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
      -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
      -r "$work/openapi-violations.report" 2>/dev/null
    echo "building ${missing[*]} $K8S_VERSION (several minutes each)" >&2
    local v=k8s.io/kubernetes/vendor/k8s.io/component-base/version
    mkdir -p "$work/out"
    go build -ldflags "-X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=20" \
      -o "$work/out/" "${missing[@]/#/k8s.io/kubernetes/cmd/}"
  )
  mkdir -p "$CACHE"
  for c in "${missing[@]}"; do
    mv "$work/out/$c" "$CACHE/$c-$K8S_VERSION"
  done
}

# Builds what is missing and prints the kube-apiserver's path (the first tier needs only it).
build() {
  build_missing
  echo "$BIN"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Writes a kubeconfig FILE for a user authenticated by TOKEN against https://ADDRESS:PORT.
write_kubeconfig() {
  local file=$1 token=$2 address=$3 port=$4 ca=$5
  cat > "$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: drydock-e2e
  cluster:
    server: https://$address:$port
    certificate-authority: $ca
users:
- name: user
  user:
    token: $token
contexts:
- name: drydock-e2e
  context: {cluster: drydock-e2e, user: user}
current-context: drydock-e2e
KUBECONFIG
}

# Starts a component in the background, its output in DIR/NAME.log and its PID in DIR/NAME.pid.
start() {
  local dir=$1 name=$2
  shift 2
  "$@" > "$dir/$name.log" 2>&1 &
  echo $! > "$dir/$name.pid"
}

# Waits until the admin's GET of URL succeeds while component NAME (DIR/NAME.pid) runs, for at
# most READY_SECONDS; otherwise prints WHAT and the component's log, stops everything, fails.
await() {
  local dir=$1 name=$2 url=$3 what=$4
  for _ in $(seq "$READY_SECONDS"); do
    kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || break
    curl -sfk -H "Authorization: Bearer $TOKEN" "$url" >/dev/null && return 0
    sleep 1
  done
  echo "$what (within ${READY_SECONDS} s); its log:" >&2
  tail -n 30 "$dir/$name.log" >&2
  down "$dir"
  exit 1
}

up() {
  local dir=$1
  build_missing
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local address=${DRYDOCK_CP_ADDRESS:-127.0.0.1}
  local etcd_client etcd_peer port
  etcd_client=$(free_port)
  etcd_peer=$(free_port)
  port=$(free_port)
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  # One token per identity, as a cluster installer gives each component its own credentials
  # (the bootstrap RBAC policy grants these users what the components need); the admin's
  # token is fixed, the others are fresh per start.
  local cm_token sched_token proxy_token node
  cm_token=$(openssl rand -hex 16)
  sched_token=$(openssl rand -hex 16)
  proxy_token=$(openssl rand -hex 16)
  {
    echo "$TOKEN,admin,admin,system:masters"
    echo "$cm_token,system:kube-controller-manager,system:kube-controller-manager"
    echo "$sched_token,system:kube-scheduler,system:kube-scheduler"
    echo "$proxy_token,system:kube-proxy,system:kube-proxy"
    for node in ${DRYDOCK_CP_NODES:-}; do
      echo "$(openssl rand -hex 16),system:node:$node,system:node:$node,system:nodes"
    done
  } > "$dir/tokens.csv"
  start "$dir" etcd etcd --name drydock-e2e --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" \
    --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "drydock-e2e=http://127.0.0.1:$etcd_peer"
  # The default admission plugins (ServiceAccount among them), as every cluster has them; the
  # controller manager below creates the ServiceAccounts and their tokens. The `kubernetes`
  # Service's endpoint is the advertise address (lease reconciler: one server, no master
  # count); kubelets are reached at their InternalIP (their names resolve nowhere).
  start "$dir" apiserver "$CACHE/kube-apiserver-$K8S_VERSION" \
    --etcd-servers="http://127.0.0.1:$etcd_client" \
    --bind-address="$address" --advertise-address="$address" --secure-port="$port" \
    --cert-dir="$dir/certs" --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=lease \
    --kubelet-preferred-address-types=InternalIP
  await "$dir" apiserver "https://$address:$port/readyz" "kube-apiserver did not become ready"
  local ca=$dir/certs/apiserver.crt
  write_kubeconfig "$dir/kubeconfig" "$TOKEN" "$address" "$port" "$ca"
  write_kubeconfig "$dir/controller-manager.kubeconfig" "$cm_token" "$address" "$port" "$ca"
  write_kubeconfig "$dir/scheduler.kubeconfig" "$sched_token" "$address" "$port" "$ca"
  write_kubeconfig "$dir/kube-proxy.kubeconfig" "$proxy_token" "$address" "$port" "$ca"
  for node in ${DRYDOCK_CP_NODES:-}; do
    write_kubeconfig "$dir/node-$node.kubeconfig" \
      "$(grep ",system:node:$node," "$dir/tokens.csv" | cut -d, -f1)" "$address" "$port" "$ca"
  done
  # The controller manager with every default controller (node lifecycle, ServiceAccount and
  # token, namespace, garbage collector, DaemonSet, Deployment, …), each under its own
  # ServiceAccount. It signs ServiceAccount tokens and hands pods the server's CA. It serves
  # nothing (ports 0): several clusters may share this machine.
  start "$dir" controller-manager "$CACHE/kube-controller-manager-$K8S_VERSION" \
    --kubeconfig="$dir/controller-manager.kubeconfig" --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$dir/sa.key" --root-ca-file="$ca" \
    --port=0 --secure-port=0
  if [ "${DRYDOCK_CP_SCHEDULER:-0}" = 1 ]; then
    start "$dir" scheduler "$CACHE/kube-scheduler-$K8S_VERSION" \
      --kubeconfig="$dir/scheduler.kubeconfig" --leader-elect=false --port=0 --secure-port=0
  fi
  # Ready for tests once the controller manager has given `default` its ServiceAccount.
  await "$dir" controller-manager \
    "https://$address:$port/api/v1/namespaces/default/serviceaccounts/default" \
    "kube-controller-manager created no ServiceAccount"
  echo "control plane ready: $dir/kubeconfig" >&2
}

# The components, stopped in this order (clients before the server, the server before etcd).
STOP_ORDER=(scheduler controller-manager apiserver etcd)

down() {
  local dir=$1 name pid
  for name in "${STOP_ORDER[@]}"; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
    fi
  done
  for name in "${STOP_ORDER[@]}"; do
    if [ -f "$dir/$name.pid" ]; then
      pid=$(cat "$dir/$name.pid")
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

case "${1:-}" in
  build) build ;;
  up) up "${2:?usage: control-plane.sh up DIR}" ;;
  down) down "${2:?usage: control-plane.sh down DIR}" ;;
  *) echo "usage: control-plane.sh build | up DIR | down DIR" >&2; exit 2 ;;
esac
