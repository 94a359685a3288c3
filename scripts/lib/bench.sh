# Set-up shared by the benchmarks over synthetic OSV dumps (bench-vulndb.sh,
# bench-vulndb-refresh.sh). Sourced from the repository root, not run.

# Sets DRYDOCK to a release binary, building one when DRYDOCK is not set already.
bench_release_binary() {
  if [ -z "${DRYDOCK:-}" ]; then
    echo "== building drydock (release)"
    cargo build --quiet --release --locked -p drydock
    DRYDOCK=${CARGO_TARGET_DIR:-target}/release/drydock
  fi
}

# Writes the seeded synthetic OSV dumps (scripts/gen-osv.py) to DIR, unless DIR already holds
# the dumps of this SEED and SCALE (a marker file records them).
# Usage: bench_osv_dumps DIR SEED SCALE
bench_osv_dumps() {
  local dumps=$1 seed=$2 scale=$3
  if [ ! -f "$dumps/.seed-$seed-scale-$scale" ]; then
    echo "== writing synthetic OSV dumps (seed $seed, scale $scale) to $dumps"
    rm -rf "$dumps"
    python3 scripts/gen-osv.py "$dumps" --seed "$seed" --scale "$scale" | sed 's/^/   /'
    touch "$dumps/.seed-$seed-scale-$scale"
  fi
}
