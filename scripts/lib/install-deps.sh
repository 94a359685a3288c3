#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, if any is missing. Retries while
# another apt holds the lock. Needs root (CI and the dev machines run as root).
set -euo pipefail
PACKAGES=(containerd runc busybox-static python3-apt rpm python3-rpm python3-aiosmtpd)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
apt_retry() {
  for attempt in 1 2 3 4 5 6; do
    if "$@"; then return 0; fi
    echo "apt failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  return 1
}
export DEBIAN_FRONTEND=noninteractive
apt_retry apt-get update -qq
apt_retry apt-get install -y -qq --no-install-recommends "${missing[@]}"
