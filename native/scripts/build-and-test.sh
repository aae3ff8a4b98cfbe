#!/usr/bin/env bash
# Configure (Release), build and run the C++ tests of native/. CI calls this.
# Usage: native/scripts/build-and-test.sh [extra cmake -D options]
# Env: BUILD_DIR (default native/build), JOBS (default: all cores),
#      DEEPINFER_CPU_KERNELS=scalar|avx2|avx512 to force a kernel path in the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
jobs="${JOBS:-$(nproc)}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
