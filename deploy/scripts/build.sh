#!/usr/bin/env bash
# Configures and builds Edgewire (Release with asserts, ccache, Ninja) into ./build.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
# ccache keys on paths relative to the checkout (and ignores the build directory's name), so a
# fresh clone elsewhere, such as CI's, reuses what an earlier build of the same sources compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithAsserts "$@" >/dev/null
# TARGETS="a b": build only those (the demo needs the three programs, not every test).
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" ${TARGETS:+--target $TARGETS}
