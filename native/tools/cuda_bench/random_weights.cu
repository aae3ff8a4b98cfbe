#include "cuda_bench/random_weights.h"

#include <algorithm>
#include <cmath>

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
__global__ void fill_e4m3_kernel(uint8_t* p, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint8_t b = static_cast<uint8_t>(mix64(seed ^ mix64(static_cast<uint64_t>(i))) >> 56);
    // Magnitudes up to 2^0 (exponent field <= 7) and never NaN: sign | 0eee.mmm with e <= 7.
    p[i] = static_cast<uint8_t>((b & 0x80) | (b & 0x3f));
  }
}

}  // namespace

void launch_fill_random(void* p, int64_t n, Dt dt, uint64_t seed, float scale, float offset, cudaStream_t s) {
  if (n == 0) return;
  DI_DISPATCH_DT(dt, E, fill_kernel<E><<<4096, 256, 0, s>>>(static_cast<E*>(p), n, seed, scale, offset));
  DI_CUDA_LAUNCH_CHECK("fill_random");
}

void RandomWeights::fill_matrix(void* d, int64_t rows, int64_t cols, Dt dt, cudaStream_t s) {
  launch_fill_random(d, rows * cols, dt, ++next_, 0.02f * std::sqrt(3.f), 0.f, s);
}

void RandomWeights::fill_matrix_fp8(uint8_t* d, float* row_scales, int64_t rows, int64_t cols, cudaStream_t s) {
  fill_e4m3_kernel<<<4096, 256, 0, s>>>(d, rows * cols, ++next_);
  DI_CUDA_LAUNCH_CHECK("fill_e4m3");
  // Bytes with exponent field <= 7 are |x| < 2 with a spread of about 0.5: scale to std 0.02.
  launch_fill_random(row_scales, rows, Dt::kF32, 0, 0.f, 0.04f, s);
}

void RandomWeights::fill_vector(float* d, int64_t n, Vector kind, cudaStream_t s) {
  launch_fill_random(d, n, Dt::kF32, 0, 0.f, kind == Vector::kNorm ? 1.f : 0.f, s);
}

namespace {

// Best (shortest) of five timed runs of `work` on `stream`, in ms, after one untimed warm-up.
template <class F>
float best_of_five_ms(cudaStream_t stream, F&& work) {
  cudaEvent_t e0, e1;
  DI_CUDA_CHECK(cudaEventCreate(&e0));
  DI_CUDA_CHECK(cudaEventCreate(&e1));
  work();
  float best = 1e30f;
  for (int i = 0; i < 5; ++i) {
    DI_CUDA_CHECK(cudaEventRecord(e0, stream));
    work();
    DI_CUDA_CHECK(cudaEventRecord(e1, stream));
    DI_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    DI_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    best = std::min(best, ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return best;
}

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  DI_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

}  // namespace

double measure_copy_bandwidth(cudaStream_t s) {
  const size_t bytes = size_t(1) << 31;
  void* a = device_alloc(bytes);
  void* b = device_alloc(bytes);
  const float ms = best_of_five_ms(s, [&] { DI_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); });
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3);  // read + write
}

double measure_gemm_rate(const Gemm& gemm, int n, cudaStream_t s) {
  const size_t es = 2;
  void* A = device_alloc(static_cast<size_t>(n) * n * es);
  void* W = device_alloc(static_cast<size_t>(n) * n * es);
  float* C = static_cast<float*>(device_alloc(static_cast<size_t>(n) * n * 4));
  launch_fill_random(A, static_cast<int64_t>(n) * n, Dt::kBF16, 1, 1.f, 0.f, s);
  launch_fill_random(W, static_cast<int64_t>(n) * n, Dt::kBF16, 2, 1.f, 0.f, s);
  const float ms = best_of_five_ms(s, [&] { gemm.run(A, W, Dt::kBF16, C, n, n, n, n, false, s); });
  cudaFree(A);
  cudaFree(W);
  cudaFree(C);
  return 2.0 * n * static_cast<double>(n) * n / (ms * 1e-3);
}

}  // namespace cuda
}  // namespace deepinfer
