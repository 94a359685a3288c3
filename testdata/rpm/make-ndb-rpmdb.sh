#!/usr/bin/env bash
# Writes an NDB rpmdb (`Packages.db`, as SUSE and openSUSE keep it) with rpm's own NDB backend.
# Debian's rpm 4.18 is built without NDB, so this builds rpm from Debian's own source package
# with `--enable-ndb` (once; the build is cached under the cargo target directory), makes a
# sqlite rpmdb with make-rpmdb.sh, exports its headers and imports them COPIES times (default
# 80: 320 packages, more than one 4 KiB page of slots holds) into a fresh NDB rpmdb.
#
# The source comes from the Debian mirror this machine's apt is configured with (deb822
# `URIs:`/`Suites:` or one-line sources.list): `InRelease` is checked with gpgv against
# Debian's archive keyring, `Sources.xz` against InRelease, the tarball against Sources.
# Needs what scripts/lib/install-deps.sh installs (rpm, gcc, make and rpm's -dev libraries).
#
# Usage: testdata/rpm/make-ndb-rpmdb.sh DBDIR [COPIES]   writes DBDIR/Packages.db, prints nothing
#        testdata/rpm/make-ndb-rpmdb.sh --rpm ARG...     runs the built rpm on NDB with ARG...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${CARGO_TARGET_DIR:-$repo/target}/tools/rpm-ndb
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# Debian's rpm configuration: the built rpm would otherwise look under its /usr/local prefix.
rpm_config=(--rcfile /usr/lib/rpm/rpmrc --macros /usr/lib/rpm/macros)

fail() { echo "make-ndb-rpmdb.sh: $*" >&2; exit 1; }

# The first mirror URI and suite of the machine's apt sources that serve Debian's main archive.
apt_source() {
  local f uri suite
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822: one paragraph per source; take the first with a "deb" type and "main".
    read -r uri suite < <(awk '
      /^[[:space:]]*$/ { if (t && m && u && s) { print u, s; exit } t = m = 0; u = s = ""; next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") t = 1 }
      tolower($1) == "uris:" { u = $2 }
      tolower($1) == "suites:" { s = $2 }
      tolower($1) == "components:" { for (i = 2; i <= NF; i++) if ($i == "main") m = 1 }
      END { if (t && m && u && s) print u, s }' "$f" | head -n1) || true
    if [ -n "${uri:-}" ] && [[ $suite != *-* ]]; then
      echo "$uri $suite"
      return
    fi
  done
  if [ -r /etc/apt/sources.list ]; then
    # One-line format: deb [options] URI SUITE COMPONENT...
    awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) !~ /-/ && index($0, " main")) { print $i, $(i + 1); exit } }' \
      /etc/apt/sources.list
  fi
}

# Downloads rpm's Debian source, checks it, builds it with NDB into $cache/src.
build_rpm() {
  local mirror suite dir file sum want
  read -r mirror suite < <(apt_source) || true
  [ -n "${mirror:-}" ] || fail "no Debian 'deb' source with component main in the apt configuration"
  mirror=${mirror%/}
  curl -fsS --retry 3 -o "$work/InRelease" "$mirror/dists/$suite/InRelease" \
    || fail "cannot fetch InRelease of $suite"
  gpgv --keyring "$keyring" --output "$work/Release" "$work/InRelease" 2>/dev/null \
    || fail "InRelease of $suite: bad signature"
  curl -fsS --retry 3 -o "$work/Sources.xz" "$mirror/dists/$suite/main/source/Sources.xz" \
    || fail "cannot fetch the Sources index of $suite"
  want=$(awk '/^SHA256:/ { on = 1; next } /^[^ ]/ { on = 0 }
    on && $3 == "main/source/Sources.xz" { print $1 }' "$work/Release")
  sum=$(sha256sum "$work/Sources.xz" | cut -d' ' -f1)
  [ -n "$want" ] && [ "$sum" = "$want" ] || fail "Sources.xz does not match InRelease"
  # The rpm paragraph: its pool directory and the upstream tarball's sha256 and name.
  read -r dir want file < <(xz -dc "$work/Sources.xz" | awk '
    /^Package: / { p = ($2 == "rpm") }
    p && /^Directory: / { d = $2 }
    p && /^Checksums-Sha256:/ { c = 1; next }
    p && c && /^ / { if ($3 ~ /\.orig\.tar\.(xz|gz|bz2)$/) o = $1 " " $3; next }
    { c = 0 }
    /^$/ { if (p && d && o) { print d, o; exit } p = 0; d = o = "" }') || true
  [ -n "${file:-}" ] || fail "no rpm source package in the Sources index of $suite"
  curl -fsS --retry 3 -o "$work/$file" "$mirror/$dir/$file" || fail "cannot fetch $file"
  sum=$(sha256sum "$work/$file" | cut -d' ' -f1)
  [ "$sum" = "$want" ] || fail "$file: sha256 $sum, Sources says $want"
  rm -rf "$cache/src"
  mkdir -p "$cache/src"
  tar -xf "$work/$file" -C "$cache/src" --strip-components=1
  (
    cd "$cache/src"
    ./configure --enable-ndb --enable-sqlite=yes --disable-plugins --disable-openmp \
      --enable-zstd=no --without-archive --disable-nls --disable-python >"$cache/build.log" 2>&1
    make -j2 >>"$cache/build.log" 2>&1
  ) || fail "building rpm failed; see $cache/build.log"
  touch "$cache/built"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
[ -e "$cache/built" ] || build_rpm
flock -u 9
src=$cache/src
ndb=(--define '_db_backend ndb')
# The built rpm's libraries, for the built tools only (Debian's rpmbuild must keep its own).
libs=$src/lib/.libs:$src/rpmio/.libs:$src/build/.libs:$src/sign/.libs
built() { LD_LIBRARY_PATH=$libs "$src/$1" "${rpm_config[@]}" "${@:2}"; }

if [ "${1:-}" = --rpm ]; then
  shift
  rm -rf "$work"
  LD_LIBRARY_PATH=$libs exec "$src/rpm" "${rpm_config[@]}" "${ndb[@]}" "$@"
fi
[ $# -ge 1 ] || fail "usage: make-ndb-rpmdb.sh DBDIR [COPIES] | --rpm ARG..."
db=$(realpath -m "$1")
copies=${2:-80}
bash "$here/make-rpmdb.sh" "$work/sqlite"
built rpmdb --dbpath "$work/sqlite" --exportdb >"$work/export" \
  || fail "rpmdb --exportdb failed"
for _ in $(seq "$copies"); do cat "$work/export"; done >"$work/import"
mkdir -p "$db"
rm -f "$db"/Packages.db "$db"/Index.db
built rpmdb "${ndb[@]}" --dbpath "$db" --initdb || fail "rpmdb --initdb failed"
built rpmdb "${ndb[@]}" --dbpath "$db" --importdb <"$work/import" \
  || fail "rpmdb --importdb failed"
[ -s "$db/Packages.db" ] || fail "rpm wrote no $db/Packages.db"
