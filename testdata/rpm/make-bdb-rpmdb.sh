#!/usr/bin/env bash
# Writes a Berkeley DB rpmdb (`Packages`, a hash database, as RHEL/CentOS <= 8 and Amazon Linux 2
# keep it) holding the headers of a sqlite rpmdb made by make-rpmdb.sh, each stored COPIES times
# under its own key, with Berkeley DB's own db_load (Debian's db5.3-util) at PAGESIZE. Debian's
# rpm reads the result with its bdb_ro backend, which makes it the oracle.
#
# Usage: testdata/rpm/make-bdb-rpmdb.sh SQLITE_DBDIR OUT_DIR PAGESIZE COPIES
set -euo pipefail
sqlite_dir=$1 out=$2 pagesize=$3 copies=$4
mkdir -p "$out"
dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
/usr/bin/python3 - "$sqlite_dir/rpmdb.sqlite" "$pagesize" "$copies" >"$dump" <<'PY'
import sqlite3, struct, sys
path, pagesize, copies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = sqlite3.connect(path).execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
print(f"VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize={pagesize}\nHEADER=END")
key = 0
for _ in range(copies):
    for (blob,) in rows:
        key += 1
        # rpm keys its headers by instance number, in host (here little-endian) order.
        print(" " + struct.pack("<I", key).hex())
        print(" " + bytes(blob).hex())
print("DATA=END")
PY
rm -f "$out/Packages"
db5.3_load -f "$dump" "$out/Packages"
