#!/usr/bin/env bash
# A private Kubernetes control plane for the end-to-end suite (tests/e2e): etcd and
# kube-apiserver on loopback, no kubelet, no controllers, with an admin token in a kubeconfig.
#
#   control-plane.sh build        build kube-apiserver once (cached), print its path
#   control-plane.sh up DIR       start etcd + kube-apiserver with state in DIR; writes
#                                 DIR/kubeconfig and returns once the server is ready
#   control-plane.sh down DIR     stop them and remove DIR
#
# No Kubernetes server binary can be downloaded here, so kube-apiserver is built from the
# source Debian ships for its kubernetes-client package (1.20.2; the newest Debian has), with
# Debian's Go and etcd. Two repairs make that source build with Go 1.19: the generated OpenAPI
# definitions (not in the tarball) are generated with the tree's own openapi-gen, and the
# vendored reflect2 1.0.1, which crashes on Go >= 1.18, is replaced by Debian's 1.0.2.
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSION=1.20.2
ORIG=kubernetes_1.20.5+really1.20.2.orig.tar.gz
ORIG_SHA256=b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc
POOL=http://deb.debian.org/debian/pool/main/k/kubernetes
CACHE=${DRYDOCK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock}
BIN=$CACHE/kube-apiserver-$K8S_VERSION
# The admin's bearer token; the server listens on loopback only and lives for one test run.
TOKEN=drydock-e2e-admin
# How long the server may take to become ready (it builds its caches and RBAC bootstrap).
READY_SECONDS=120

build() {
  if [ -x "$BIN" ]; then
    echo "$BIN"
    return
  fi
  scripts/lib/install-deps.sh golang-go etcd-server golang-github-modern-go-reflect2-dev curl openssl >&2
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  echo "downloading $ORIG" >&2
  for attempt in 1 2 3 4 5 6; do
    curl -fsSL -o "$work/$ORIG" "$POOL/$ORIG" && break
    echo "download failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
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
    echo "building kube-apiserver $K8S_VERSION (several minutes)" >&2
    local v=k8s.io/kubernetes/vendor/k8s.io/component-base/version
    go build -ldflags "-X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=20" \
      -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  )
  mkdir -p "$CACHE"
  mv "$work/kube-apiserver" "$BIN"
  echo "$BIN"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

up() {
  local dir=$1 bin
  bin=$(build)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local etcd_client etcd_peer port
  etcd_client=$(free_port)
  etcd_peer=$(free_port)
  port=$(free_port)
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  echo "$TOKEN,admin,admin,system:masters" > "$dir/tokens.csv"
  etcd --name drydock-e2e --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" \
    --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "drydock-e2e=http://127.0.0.1:$etcd_peer" \
    > "$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"
  # No ServiceAccount admission: nothing creates service-account tokens without a controller
  # manager, and every pod the tests create says whether it mounts one.
  "$bin" --etcd-servers="http://127.0.0.1:$etcd_client" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port" \
    --cert-dir="$dir/certs" --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.96.0.0/16 --disable-admission-plugins=ServiceAccount \
    > "$dir/apiserver.log" 2>&1 &
  echo $! > "$dir/apiserver.pid"
  local ready=
  for _ in $(seq "$READY_SECONDS"); do
    kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null || break
    if curl -sfk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$port/readyz" >/dev/null; then
      ready=1
      break
    fi
    sleep 1
  done
  if [ -z "$ready" ]; then
    echo "kube-apiserver did not become ready (within ${READY_SECONDS} s); its log:" >&2
    tail -n 30 "$dir/apiserver.log" >&2
    down "$dir"
    exit 1
  fi
  cat > "$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: drydock-e2e
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: drydock-e2e
  context: {cluster: drydock-e2e, user: admin}
current-context: drydock-e2e
KUBECONFIG
  echo "control plane ready: $dir/kubeconfig" >&2
}

down() {
  local dir=$1
  for name in apiserver etcd; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
    fi
  done
  for name in apiserver etcd; do
    if [ -f "$dir/$name.pid" ]; then
      local pid
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
