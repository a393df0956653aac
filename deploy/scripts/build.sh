#!/usr/bin/env bash
# Configures and builds Edgewire (Release with asserts, ccache, Ninja) into ./build.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithAsserts "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
