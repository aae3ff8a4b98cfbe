// Deterministic pseudo-random fill for in-memory random-weight models (the GPU benchmark of an
// 8B-shaped model without writing 16 GB of safetensors).
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {
__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
template <typename T>
__global__ void fill_kernel(T* p, int64_t n, uint64_t seed, float scale, float offset) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t h = mix64(seed ^ mix64(static_cast<uint64_t>(i)));
    const float u = static_cast<float>(h >> 40) * (1.f / 16777216.f) * 2.f - 1.f;
    p[i] = from_f32<T>(offset + scale * u);
  }
}
}  // namespace

void launch_fill_random(void* p, int64_t n, Dt dt, uint64_t seed, float scale, float offset, cudaStream_t s) {
  if (n == 0) return;
  DI_DISPATCH_DT(dt, E, fill_kernel<E><<<4096, 256, 0, s>>>(static_cast<E*>(p), n, seed, scale, offset));
  DI_CUDA_LAUNCH_CHECK("fill_random");
}

}  // namespace cuda
}  // namespace deepinfer
