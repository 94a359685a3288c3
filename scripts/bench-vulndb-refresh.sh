#!/usr/bin/env bash
# Measures what the builder's refresh (`drydock vulndb refresh --once`, the loop of the manager
# pod's vulndb-builder container) downloads and how much memory it takes, over the seeded
# synthetic dumps of every default ecosystem (scripts/gen-osv.py) served in OSV's bucket layout
# by a local HTTP server (python3 http.server): `<Ecosystem>/all.zip`, `modified_id.csv` (newest
# first) and `<ID>.json`. First refresh: every dump downloaded whole. Then SHARE of each
# ecosystem's records change upstream (a newer `modified`, another fixed version) and the
# second refresh fetches only those. Prints bytes fetched, wall time and peak RSS of both.
# Usage: scripts/bench-vulndb-refresh.sh   (env: SCALE=1.0, SEED=16, SHARE=0.01, KEEP=dir to
# keep and reuse the dumps, DRYDOCK=path to a release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
SCALE=${SCALE:-1.0}
SEED=${SEED:-16}
SHARE=${SHARE:-0.01}
W=$(mktemp -d /tmp/bench-vulndb-refresh.XXXXXX)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
DUMPS=${KEEP:-$W/osv}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

bench_release_binary
bench_osv_dumps "$DUMPS" "$SEED" "$SCALE"

echo "== the bucket: lists of every dump, then $SHARE of the records changed"
python3 - "$DUMPS" "$W" "$SHARE" "$SEED" <<'EOF'
import json, os, random, sys, zipfile
dumps, w, share, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
changed_at = "2099-01-01T00:00:00Z"
total = 0
for eco in sorted(os.listdir(dumps)):
    zpath = os.path.join(dumps, eco, "all.zip")
    if not os.path.isfile(zpath):
        continue
    rows = []
    with zipfile.ZipFile(zpath) as z:
        names = z.namelist()
        for name in names:
            record = json.loads(z.read(name))
            rows.append((record.get("modified", ""), record["id"]))
        picked = rng.sample(names, max(1, int(len(names) * share)))
        for name in ("v1", "v2"):
            os.makedirs(os.path.join(w, name, eco), exist_ok=True)
            os.symlink(zpath, os.path.join(w, name, eco, "all.zip"))
        changed = {}
        for name in picked:
            record = json.loads(z.read(name))
            record["modified"] = changed_at
            for affected in record.get("affected", []):
                for r in affected.get("ranges", []):
                    r["events"] = [{"introduced": "0"}, {"fixed": "99:99"}]
            body = json.dumps(record).encode()
            open(os.path.join(w, "v2", eco, record["id"] + ".json"), "wb").write(body)
            changed[record["id"]] = len(body)
    rows.sort(reverse=True)
    open(os.path.join(w, "v1", eco, "modified_id.csv"), "w").write(
        "".join(f"{m},{i}\n" for m, i in rows))
    rows2 = [(changed_at, i) for i in sorted(changed)] + [r for r in rows if r[1] not in changed]
    open(os.path.join(w, "v2", eco, "modified_id.csv"), "w").write(
        "".join(f"{m},{i}\n" for m, i in rows2))
    total += len(names)
    print(f"   {eco}: {len(names)} records, {len(changed)} changed "
          f"({sum(changed.values())} bytes as JSON), dump {os.path.getsize(zpath)} bytes")
print(f"   {total} records in all")
EOF
ln -s "$W/v1" "$W/bucket"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$W/bucket" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
  sleep 0.2
done
sources=()
for eco in "$W"/v1/*/; do
  name=$(basename "$eco")
  sources+=("--source=http://127.0.0.1:$port/${name// /%20}/all.zip")
done

refresh() {
  /usr/bin/time -v -o "$W/time" "$DRYDOCK" vulndb refresh --once --dir "$W/builder" \
    "${sources[@]}" > "$W/out" 2> "$W/log"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$W/time")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/time")
  echo "   $(cut -d' ' -f5- "$W/out"); wall ${wall} s, peak RSS $((rss / 1024)) MiB, index $(( $(stat -c %s "$W/builder/index.sqlite") / 1048576 )) MiB"
  grep -E 'WARN|ERROR|only the records changed|downloaded OSV data|unchanged' "$W/log" | cut -c1-240 | sed 's/^/   | /' || true
}
echo "== first refresh: every dump downloaded whole"
refresh
ln -sfn "$W/v2" "$W/bucket.new" && mv -T "$W/bucket.new" "$W/bucket"
echo "== second refresh: $SHARE of the records changed upstream"
refresh
