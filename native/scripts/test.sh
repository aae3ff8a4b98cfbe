#!/usr/bin/env bash
# Runs the C++ tests (ctest) of an existing build. Env: BUILD_DIR, JOBS as in build.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
jobs="${JOBS:-$(nproc)}"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
