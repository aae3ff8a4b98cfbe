// Embedding lookup: one block per token, rows converted to the f32 residual stream.
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {
template <typename T>
__global__ void embedding_kernel(const int32_t* __restrict__ tokens, const T* __restrict__ table, int D,
                                 float* __restrict__ x) {
  const int t = blockIdx.x;
  const T* src = table + static_cast<int64_t>(tokens[t]) * D;
  float* dst = x + static_cast<int64_t>(t) * D;
  for (int i = threadIdx.x; i < D; i += blockDim.x) dst[i] = to_f32(src[i]);
}
}  // namespace

void launch_embedding(const int32_t* tokens, int T, const void* table, Dt dt, int D, float* x, cudaStream_t s) {
  if (T == 0) return;
  DI_DISPATCH_DT(dt, E, embedding_kernel<E><<<T, 256, 0, s>>>(tokens, static_cast<const E*>(table), D, x));
  DI_CUDA_LAUNCH_CHECK("embedding");
}

}  // namespace cuda
}  // namespace deepinfer
