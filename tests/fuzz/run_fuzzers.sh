#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer under ASan+UBSan into build-fuzz/ (a separate
# build holding only the targets and the libraries they need) and runs each one, one at a time,
# for RUNS executions (default 1,000,000) or MAX_TIME seconds, whichever comes first.
#
#   tests/fuzz/run_fuzzers.sh [TARGET...]        (default: every target)
#   RUNS=1000000 MAX_TIME=1800 JOBS=2 BUILD_DIR=build-fuzz tests/fuzz/run_fuzzers.sh
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<name>, never written to) plus what
# earlier runs found (BUILD_DIR/corpus/<name>). A crash, timeout or out-of-memory input is saved in
# BUILD_DIR/artifacts/<target>/; the target's log is BUILD_DIR/logs/<target>.log. Prints, and
# writes to BUILD_DIR/fuzz-summary.txt, one line per target: executions, crashes, seconds.
# Exit status 1 when any target crashed. Needs Debian's clang 14 and libclang-rt-14-dev
# (installed here with apt-get when missing; they are not needed by the normal build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-fuzz}
RUNS=${RUNS:-1000000}
MAX_TIME=${MAX_TIME:-1800}
JOBS=${JOBS:-2}

ALL_TARGETS=(guarded_json_fuzz wamp_codec_json_fuzz wamp_codec_msgpack_fuzz rest_body_fuzz function_spec_fuzz
             package_fuzz gpio_broker_protocol_fuzz config_fuzz flow_fuzz)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

# --- toolchain -------------------------------------------------------------------------------
need=()
command -v clang++-14 >/dev/null || need+=(clang-14)
[ -f /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] || need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "run_fuzzers: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# --- build -----------------------------------------------------------------------------------
SANITIZE="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithAsserts \
  -DCMAKE_CXX_FLAGS="$SANITIZE" -DEW_FUZZ_LIBFUZZER=ON -DEW_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j "$JOBS" -- -l "$((JOBS + 1))"

# --- run -------------------------------------------------------------------------------------
dictionary() {  # the libFuzzer dictionary of a target (one file: several concatenated)
  local parts
  case "$1" in
    wamp_codec_json_fuzz) parts="json wamp" ;;
    wamp_codec_msgpack_fuzz) parts="wamp" ;;
    config_fuzz) parts="toml" ;;
    package_fuzz) parts="tar api" ;;
    guarded_json_fuzz) parts="json wamp" ;;
    *) parts="json api" ;;
  esac
  local out="$BUILD_DIR/dicts/$1.dict"
  mkdir -p "$BUILD_DIR/dicts"
  : > "$out"
  for p in $parts; do cat "tests/fuzz/dict/$p.dict" >> "$out"; done
  echo "$out"
}

# Package extraction fsyncs every file: a tmpfs keeps that off the shared disk.
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo "+dirty")
SUMMARY="$BUILD_DIR/fuzz-summary.txt"
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $COMMIT, clang $(clang++-14 -dumpversion), -runs=$RUNS -max_total_time=$MAX_TIME"
  printf '%-28s %12s %8s %9s %8s %s\n' target executions crashes seconds exec/s result
} > "$SUMMARY"
cat "$SUMMARY"

failed=0
for target in "${TARGETS[@]}"; do
  name=${target%_fuzz}
  seeds="tests/fuzz/corpus/$name"
  work="$BUILD_DIR/corpus/$name"
  artifacts="$BUILD_DIR/artifacts/$target/"
  log="$BUILD_DIR/logs/$target.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  max_len=()
  [ "$target" = package_fuzz ] && max_len=(-max_len=16384)
  touch "$artifacts/.start"
  start=$(date +%s)
  status=0
  "$BUILD_DIR/tests/fuzz/$target" "$work" "$seeds" -runs="$RUNS" -max_total_time="$MAX_TIME" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
    -dict="$(dictionary "$target")" "${max_len[@]}" >"$log" 2>&1 || status=$?
  seconds=$(( $(date +%s) - start ))
  # "stat::number_of_executed_units: N" from -print_final_stats (also printed after a crash).
  execs=$(awk '/stat::number_of_executed_units:/ {n=$2} END {print n+0}' "$log")
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) \
              -newer "$artifacts/.start" | wc -l)
  result=ok
  if [ "$status" -ne 0 ]; then
    result="FAILED (exit $status, see $log)"
    failed=1
    [ "$crashes" -eq 0 ] && crashes=1
  fi
  printf '%-28s %12s %8s %9s %8s %s\n' "$target" "$execs" "$crashes" "$seconds" \
    "$(( execs / (seconds > 0 ? seconds : 1) ))" "$result" | tee -a "$SUMMARY"
done
echo "run_fuzzers: summary in $SUMMARY"
exit "$failed"
