#!/usr/bin/env bash
# Builds a real sqlite rpmdb with Debian's rpm 4.18: a few tiny rpms (no files) built with
# rpmbuild, registered with `rpm --justdb`. Covers an epoch, a subpackage whose source rpm
# names its parent, noarch and x86_64, and a vendor.
#
# Usage: testdata/rpm/make-rpmdb.sh DBDIR     (writes DBDIR/rpmdb.sqlite; needs rpm, rpmbuild)
set -euo pipefail
db=$(realpath -m "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$db"
spec() { # name version release epoch arch vendor [subpackage]
  cat <<SPEC
Name: $1
Version: $2
Release: $3
${4:+Epoch: $4}
Summary: Drydock test package
License: MIT
Vendor: $6
BuildArch: $5
%description
Drydock test package.
%files
SPEC
  if [ -n "${7:-}" ]; then
    printf '%%package %s\nSummary: subpackage\n%%description %s\nsubpackage\n%%files %s\n' "$7" "$7" "$7"
  fi
}
spec openssl 3.0.7 24.el9 1 x86_64 "Red Hat, Inc." libs >"$work/openssl.spec"
spec tzdata 2024a 1.el9 "" noarch "Red Hat, Inc." >"$work/tzdata.spec"
spec bash 5.1.8 9.el9 "" x86_64 "Red Hat, Inc." >"$work/bash.spec"
for s in "$work"/*.spec; do
  rpmbuild --quiet --define "_topdir $work/top" --define "_build_id_links none" \
    --define "__os_install_post %{nil}" -bb "$s" >/dev/null 2>&1 \
    || { echo "rpmbuild failed for $s" >&2; exit 1; }
done
rpm --dbpath "$db" --initdb
rpm --dbpath "$db" -i --justdb --nodeps --noscripts --ignorearch \
  "$work"/top/RPMS/*/*.rpm 2>/dev/null
