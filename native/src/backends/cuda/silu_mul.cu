// SiLU-and-multiply: h = silu(gate) * up, gate and up halves of the fused gate-up GEMM output.
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {
template <typename T>
__global__ void silu_mul_kernel(const float* __restrict__ gu, int I, T* __restrict__ h) {
  const int t = blockIdx.y;
  const float* g = gu + static_cast<int64_t>(t) * 2 * I;
  T* o = h + static_cast<int64_t>(t) * I;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < I; i += gridDim.x * blockDim.x) {
    const float a = g[i];
    o[i] = from_f32<T>(a / (1.f + expf(-a)) * g[I + i]);
  }
}
}  // namespace

void launch_silu_mul(const float* gu, int T, int I, void* h, Dt dt, cudaStream_t s) {
  if (T == 0) return;
  const int threads = 256;
  int bx = (I + threads - 1) / threads;
  if (bx > 64) bx = 64;
  DI_DISPATCH_DT(dt, E, silu_mul_kernel<E><<<dim3(bx, T), threads, 0, s>>>(gu, I, static_cast<E*>(h)));
  DI_CUDA_LAUNCH_CHECK("silu_mul");
}

}  // namespace cuda
}  // namespace deepinfer
