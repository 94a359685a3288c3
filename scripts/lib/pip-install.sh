#!/usr/bin/env bash
# Installs PyPI packages the tests use (pip install PKG…), retrying while the registry does not
# answer. Debian's python refuses system-wide installs (PEP 668) unless told to break that
# rule; the packages installed here touch nothing else.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: pip-install.sh PACKAGE…" >&2; exit 2; }
for attempt in 1 2 3 4 5 6; do
  python3 -m pip install -q "$@" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "$@" && exit 0
  echo "pip failed (attempt $attempt), retrying in 10 s" >&2
  sleep 10
done
echo "pip could not install: $*" >&2
exit 1
