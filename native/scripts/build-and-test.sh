#!/usr/bin/env bash
# Configure (Release), build and run the C++ tests of native/ (no Node needed: this is how the
# engine is checked on a GPU machine without Node).
# Usage: native/scripts/build-and-test.sh [extra cmake -D options]
# Env: BUILD_DIR (default native/build), JOBS (default: all cores),
#      DEEPINFER_DEV_CPU_KERNELS=scalar|avx2|avx512 to force a kernel path in the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/build.sh" "$@"
"$here/scripts/test.sh"
