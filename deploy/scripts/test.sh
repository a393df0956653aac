#!/usr/bin/env bash
# The README's second command: install dependencies, build, run every test (ctest -j2).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/scripts/install-deps.sh
bash deploy/scripts/build.sh
# npm autobahn for the JavaScript interop test (a second, independent WAMP client).
if command -v npm >/dev/null; then
  (cd tests/integration/js && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "${BUILD_DIR:-build}"
ctest -j2 --output-on-failure --timeout 300
