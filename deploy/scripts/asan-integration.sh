#!/usr/bin/env bash
# ASan + LSan over the integration tests (issue 14): builds the three programs with
# -fsanitize=address into a separate build directory (default build-asan; ccache shares objects
# between runs), runs the Python integration tests against them, and fails when any process
# reported an error or a leak. Reports land in $BUILD_DIR/asan-logs/asan.<pid> (log_path), so a
# report from a daemon that a test stops with SIGTERM is kept even though the test only sees its
# exit. Processes the tests kill with SIGKILL exit without a leak check: those runs only show
# memory errors.
#
#   nice -n 19 bash deploy/scripts/asan-integration.sh [ctest -R pattern]
#
# A long build on a small machine: ~3 programs' worth of objects without ccache hits.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
PATTERN=${1:-.}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
SAN="-fsanitize=address -fno-omit-frame-pointer -fno-sanitize-recover=all"
# EW_AGENT_STATIC=OFF: the sanitizer runtime is a shared library next to a shared libstdc++.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithAsserts -DEW_AGENT_STATIC=OFF \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target edgewire-conductor edgewire-agent edgewire -- -l "$((JOBS + 1))"

LOGS=$ROOT/$BUILD_DIR/asan-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
# detect_leaks: LSan at exit; log_path: one file per process; the suppressions name leaks of
# libraries that are not ours (none so far: the file documents the format).
export ASAN_OPTIONS="detect_leaks=1:log_path=$LOGS/asan:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan_suppressions.txt:print_suppressions=0"
cd "$BUILD_DIR"
status=0
ctest -j "$JOBS" -L integration -R "$PATTERN" --timeout 600 --output-on-failure | tee ctest-asan.log || status=$?
reports=$(find "$LOGS" -type f | wc -l)
if [ "$reports" -gt 0 ]; then
  echo "== $reports sanitizer report(s) in $LOGS:"
  for f in "$LOGS"/*; do
    echo "---- $f"
    grep -E "^(==[0-9]+==ERROR|SUMMARY|    #[0-9] )" "$f" | head -40
  done
  status=1
else
  echo "== no ASan/LSan reports"
fi
grep -E '^[0-9]+% tests passed' ctest-asan.log | tail -1 || true
exit $status
