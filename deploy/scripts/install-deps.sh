#!/usr/bin/env bash
# Installs what building and testing Edgewire needs on Debian 12, from Debian's packages only:
# apt-get update + apt-get install -y of deploy/debian-packages.txt.
# Skips apt entirely when everything is already there, so repeated runs are fast.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mapfile -t PACKAGES < <(sed 's/#.*//' "$ROOT/deploy/debian-packages.txt" | tr -s ' \t' '\n' | grep -v '^$')

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's package, unless the installed nodejs already brings it (NodeSource's does, and
# Debian's npm would conflict with it).
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
