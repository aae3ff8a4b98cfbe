#!/usr/bin/env bash
# Prints the linker arguments that put the CUDA backend into the Node addon, or nothing when
# native/ was built without it (no nvcc). binding.gyp calls this: the engine library only holds a
# weak reference to the backend, so the backend archive is linked whole, with the static CUDA
# runtime it needs (the addon then needs only the NVIDIA driver at run time, and loads on
# machines without one: the backend reports zero devices there).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
lib="$build/libdeepinfer_cuda.a"
[ -f "$lib" ] || exit 0
cudart="$(sed -n 's/^CUDA_cudart_static_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt" 2>/dev/null | head -n 1)"
if [ -z "$cudart" ] || [ ! -f "$cudart" ]; then
  nvcc_dir="$(dirname "$(readlink -f "$(command -v nvcc)")")"
  cudart="$(find "$nvcc_dir/.." -name libcudart_static.a 2>/dev/null | head -n 1)"
fi
if [ -z "$cudart" ]; then
  echo "cuda-link-flags: $lib exists but libcudart_static.a was not found (CMakeCache or next to nvcc)" >&2
  exit 1
fi
echo "-Wl,--whole-archive $lib -Wl,--no-whole-archive $cudart -ldl -lrt"
