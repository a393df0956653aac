#!/usr/bin/env bash
# Cross-compiles edgewire-agent for arm64 into ./build-arm64 (cmake/aarch64-linux-gnu.cmake),
# making the sysroot first when it is missing (deploy/scripts/arm64-sysroot.sh). The host needs
# crossbuild-essential-arm64 (and qemu-user-static to run the result: tests/integration/test_arm64.py).
#   deploy/scripts/cross-build-arm64.sh        → build-arm64/device-agent/edgewire-agent
# and the libgpiod backend's unit tests (build-arm64/tests/device-agent/agent_gpiod_chip_test), which
# tests/integration/test_raspi3b.py runs on an emulated Raspberry Pi 3B's real GPIO driver.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export EW_ARM64_SYSROOT=${EW_ARM64_SYSROOT:-$ROOT/build-arm64-sysroot}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-arm64}
JOBS=${JOBS:-2}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
command -v aarch64-linux-gnu-g++ >/dev/null || { echo "cross-build-arm64: apt-get install crossbuild-essential-arm64" >&2; exit 1; }
bash deploy/scripts/arm64-sysroot.sh "$EW_ARM64_SYSROOT"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithAsserts \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" -DEW_ARM64_SYSROOT="$EW_ARM64_SYSROOT" \
  -DEW_BUILD_TESTS=ON -DEW_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target edgewire-agent ew_containers_gpio_clients agent_gpiod_chip_test -- -l3
file "$BUILD_DIR/device-agent/edgewire-agent"
