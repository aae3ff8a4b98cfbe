#!/usr/bin/env bash
# Configure (Release) and build the engine library, its tools and its C++ tests into
# native/build. `npm run build` (nx target @deepinfer/native:build) calls this, then the binding.
# Usage: native/scripts/build.sh [extra cmake -D options]
# Env: BUILD_DIR (default native/build), JOBS (parallel compile jobs; default: all cores —
#      set JOBS=2 on small CI machines), DEEPINFER_CUDA_ARCHITECTURES (CUDA targets, e.g.
#      "90-real"; default 89-real;90-real;120-real;120-virtual). With nvcc on PATH the CUDA
#      backend is built (DEEPINFER_CUDA=AUTO); pass -DDEEPINFER_CUDA=OFF to skip it. Without an
#      explicit list: on a machine with an NVIDIA GPU, its own architecture ("native"); without
#      one (CI, laptops) only sm_120, which checks that the CUDA code compiles in a fraction of
#      the time. Release images set the full list (docker/executor.Dockerfile).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
jobs="${JOBS:-$(nproc)}"
if [ -z "${DEEPINFER_CUDA_ARCHITECTURES:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    export DEEPINFER_CUDA_ARCHITECTURES="native"
  else
    export DEEPINFER_CUDA_ARCHITECTURES="120-real"
  fi
fi
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
