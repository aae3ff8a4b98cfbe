// Shared device helpers of the CUDA backend: error checks, the element types (f32 / f16 /
// bf16 storage, always f32 arithmetic), and block-wide reductions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/error.h"

namespace deepinfer {
namespace cuda {

// Storage type of weights, activations fed to GEMMs, and the K/V cache.
enum class Dt : int { kF32 = 0, kF16 = 1, kBF16 = 2 };
inline int dt_size(Dt d) { return d == Dt::kF32 ? 4 : 2; }
inline const char* dt_name(Dt d) { return d == Dt::kF32 ? "f32" : d == Dt::kF16 ? "f16" : "bf16"; }

inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) {
    throw Error(std::string("CUDA error in ") + what + " (" + file + ":" + std::to_string(line) +
                "): " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
}
#define DI_CUDA_CHECK(expr) ::deepinfer::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface at once.
#define DI_CUDA_LAUNCH_CHECK(name) ::deepinfer::cuda::check_cuda(cudaGetLastError(), name, __FILE__, __LINE__)

#ifdef __CUDACC__  // device helpers (host-only C++ such as tools includes the declarations above)
// Element load/store with conversion to/from f32.
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

#endif  // __CUDACC__

// Runs the statements with T the C++ type of `d`.
#define DI_DISPATCH_DT(d, T, ...)                       \
  switch (d) {                                          \
    case ::deepinfer::cuda::Dt::kF32: {                 \
      using T = float;                                  \
      __VA_ARGS__;                                      \
      break;                                            \
    }                                                   \
    case ::deepinfer::cuda::Dt::kF16: {                 \
      using T = __half;                                 \
      __VA_ARGS__;                                      \
      break;                                            \
    }                                                   \
    case ::deepinfer::cuda::Dt::kBF16: {                \
      using T = __nv_bfloat16;                          \
      __VA_ARGS__;                                      \
      break;                                            \
    }                                                   \
  }

#ifdef __CUDACC__
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ int warp_sum(int v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum/max; every thread gets the result. `sh` holds >= 32 elements. blockDim.x must
// be a multiple of 32. Contains __syncthreads: call from all threads.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  T r = lane < nw ? sh[lane] : T(0);
  r = warp_sum(r);
  return r;
}
__device__ __forceinline__ float block_max(float v, float* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float r = lane < nw ? sh[lane] : -INFINITY;
  return warp_max(r);
}
#endif  // __CUDACC__

}  // namespace cuda
}  // namespace deepinfer
