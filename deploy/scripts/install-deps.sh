#!/usr/bin/env bash
# Installs what building and testing Edgewire needs on Debian 12, from Debian's packages only.
# Skips apt entirely when everything is already there, so repeated runs are fast.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libboost-system-dev libboost-thread-dev
  libwebsocketpp-dev autobahn-cpp-dev libmsgpack-cxx-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libexpected-dev libtomlplusplus-dev
  libsqlite3-dev libsqlitecpp-dev libprotobuf-dev protobuf-compiler
  libssl-dev nettle-dev libsystemd-dev libgpiod-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libarchive-dev zlib1g-dev libacl1-dev liblzma-dev libzstd-dev liblz4-dev libbz2-dev libxml2-dev
  libseccomp-dev runc bubblewrap crun
  python3-autobahn python3-msgpack curl procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
