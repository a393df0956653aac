#!/usr/bin/env bash
# The README's second command: install dependencies, build, run every test (ctest -j2).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/scripts/install-deps.sh
bash deploy/scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest -j2 --output-on-failure --timeout 300
