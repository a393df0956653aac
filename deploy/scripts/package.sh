#!/usr/bin/env bash
# Builds the Debian packages edgewire-common, edgewire-agent and edgewire-conductor (CPack DEB,
# cmake/packaging.cmake) into $OUT_DIR (default build-deb/packages).
#
#   deploy/scripts/package.sh                 amd64 (this host)
#   ARCH=arm64 deploy/scripts/package.sh      arm64 edgewire-agent + edgewire-common, cross-built
#                                             against deploy/scripts/arm64-sysroot.sh's sysroot
#
# A package build has its own build directory: it is configured with the installed paths
# compiled in (prefix /usr, GPIO clients in /usr/lib/edgewire/gpio) and without tests. With a
# warm ccache it recompiles almost nothing (only gpio_sandbox.cpp differs from ./build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARCH=${ARCH:-$(dpkg --print-architecture)}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-deb${ARCH:+-$ARCH}}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/packages}
JOBS=${JOBS:-2}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithAsserts -DCMAKE_INSTALL_PREFIX=/usr
      -DEW_GPIO_CLIENTS_DIR=/usr/lib/edgewire/gpio -DEW_BUILD_TESTS=OFF -DEW_BUILD_BENCH=OFF)
targets=(edgewire-agent edgewire-conductor edgewire ew_containers_gpio_clients)
components="common;agent;conductor"
if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
  [ "$ARCH" = arm64 ] || { echo "package.sh: only amd64 (native) and arm64 (cross) are supported" >&2; exit 2; }
  SYSROOT=${EW_ARM64_SYSROOT:-$ROOT/build-arm64-sysroot}
  [ -f "$SYSROOT/.edgewire-sysroot-complete" ] || { echo "package.sh: no arm64 sysroot at $SYSROOT (run deploy/scripts/arm64-sysroot.sh)" >&2; exit 1; }
  args+=(-DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" -DEW_ARM64_SYSROOT="$SYSROOT")
  # A board gets the agent; the conductor is a cloud program.
  targets=(edgewire-agent ew_containers_gpio_clients)
  components="common;agent"
fi
cmake -S . -B "$BUILD_DIR" "${args[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}" -- -l3
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/edgewire-*_"$ARCH".deb
# Strip into the package (debug info stays in the build tree): the agent's .text is what a Pi
# pays for in RSS, its .debug_* only on disk.
(cd "$BUILD_DIR" && cpack -G DEB -B "$OUT_DIR" -D CPACK_COMPONENTS_ALL="$components" -D CPACK_STRIP_FILES=ON \
   -D CPACK_DEBIAN_PACKAGE_ARCHITECTURE="$ARCH" >/dev/null)
rm -rf "$OUT_DIR/_CPack_Packages"
ls -1 "$OUT_DIR"/*.deb
