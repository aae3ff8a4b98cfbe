// The bridge between the engine core (libdeepinfer_engine.a, no CUDA symbols) and the CUDA
// backend (libdeepinfer_cuda.a / the deepinfer_cuda_objs objects). engine.cc declares
// deepinfer_cuda_api() weak: when the CUDA objects are not linked into the final binary, its
// address is null and the engine reports "not built in" instead of failing to link. This
// header must stay free of CUDA includes (engine.cc is plain C++).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/backend.h"

namespace deepinfer {
namespace cuda {

struct Api {
  int abi_version;  // kApiVersion
  // Usable devices (cudaGetDeviceCount; 0 on any error, e.g. no driver). Never throws.
  int (*device_count)();
  // New backend on `device` with the engine's options; throws deepinfer::Error with the CUDA
  // error text, or naming the option it cannot honour, on failure.
  std::unique_ptr<Backend> (*create)(int device, const BackendOptions& options);
};

constexpr int kApiVersion = 2;

}  // namespace cuda
}  // namespace deepinfer

extern "C" const deepinfer::cuda::Api* deepinfer_cuda_api(void) __attribute__((weak));
