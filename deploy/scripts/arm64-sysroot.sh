#!/usr/bin/env bash
# Builds an arm64 (Debian 12) sysroot for cross-compiling the board agent, without touching the
# host's dpkg: no `dpkg --add-architecture arm64`, no :arm64 packages on the host (multiarch
# -dev packages can replace the amd64 ones every other build here uses). mmdebstrap's "extract"
# variant downloads the listed -dev packages and their dependencies for arm64 and only unpacks
# them into a directory: no maintainer scripts, so no qemu is needed to make it.
#
#   deploy/scripts/arm64-sysroot.sh [DIR]     (default ./build-arm64-sysroot, or $EW_ARM64_SYSROOT)
#
# Needs mmdebstrap (deploy/debian-packages.txt) and network access to the Debian mirror in the
# host's apt sources. ~5 min and ~600 MB the first time; re-running on a complete sysroot is a
# no-op (delete DIR to rebuild). cmake/aarch64-linux-gnu.cmake points the cross build at it.
set -euo pipefail
SYSROOT=${1:-${EW_ARM64_SYSROOT:-$(cd "$(dirname "$0")/../.." && pwd)/build-arm64-sysroot}}
SUITE=${SUITE:-bookworm}
STAMP="$SYSROOT/.edgewire-sysroot-complete"

# What the top-level CMakeLists finds (it configures the whole tree even for one target) plus
# what edgewire-agent links; static archives come with the -dev packages (cmake/agent_static.cmake).
PACKAGES=(
  libc6-dev libstdc++-12-dev linux-libc-dev
  libboost-dev libboost-system-dev libboost-thread-dev
  libwebsocketpp-dev autobahn-cpp-dev libmsgpack-cxx-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libexpected-dev libtomlplusplus-dev
  libsqlite3-dev libsqlitecpp-dev libprotobuf-dev
  libssl-dev nettle-dev libsystemd-dev libgpiod-dev
  libarchive-dev zlib1g-dev libacl1-dev liblzma-dev libzstd-dev liblz4-dev libbz2-dev libxml2-dev
  libseccomp-dev libkainjow-mustache-dev libmosquitto-dev
  libgtest-dev libgmock-dev
)

if [ -f "$STAMP" ]; then
  echo "arm64-sysroot: $SYSROOT is complete ($(cat "$STAMP"))"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "arm64-sysroot: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
rm -rf "$SYSROOT"
mkdir -p "$(dirname "$SYSROOT")"
include=$(IFS=,; echo "${PACKAGES[*]}")
# Bookworm's packages ship /lib, /bin, /sbin under /usr (merged /usr); extract does not run
# base-files' or usrmerge's scripts, so make the top-level links first: libc.so and other linker
# scripts name /lib/aarch64-linux-gnu/..., which ld looks up inside the sysroot.
mmdebstrap --mode=root --variant=extract --architectures=arm64 --include="$include" \
  --setup-hook='mkdir -p "$1/usr/lib" "$1/usr/bin" "$1/usr/sbin"; for d in lib bin sbin; do ln -sfn usr/$d "$1/$d"; done' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$SUITE" "$SYSROOT"
# Absolute symlinks (a few -dev packages link lib*.so → /lib/...) would point at the host's
# files when the linker follows them: make them relative to the sysroot.
find "$SYSROOT" -type l -lname '/*' | while read -r link; do
  target=$(readlink "$link")
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$SYSROOT$target")" "$link"
done
date -u +%FT%TZ > "$STAMP"
echo "arm64-sysroot: $SYSROOT ready ($(du -sh "$SYSROOT" | cut -f1))"
