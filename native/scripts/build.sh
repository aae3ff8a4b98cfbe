#!/usr/bin/env bash
# Configure (Release) and build the engine library, its tools and its C++ tests into
# native/build. `npm run build` (nx target @deepinfer/native:build) calls this, then the binding.
# Usage: native/scripts/build.sh [extra cmake -D options]
# Env: BUILD_DIR (default native/build), JOBS (parallel compile jobs; default: all cores —
#      set JOBS=2 on small CI machines).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
jobs="${JOBS:-$(nproc)}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
