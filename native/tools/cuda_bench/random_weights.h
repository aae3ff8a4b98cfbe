// Random weights of a model's shape generated on the device (the GPU benchmark of an 8B-shaped
// model without writing 16 GB of safetensors), and the benchmark's device rates. Bench-only:
// linked by deepinfer-cuda-check, never by the engine.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/kernels.h"
#include "backends/cuda/step_observer.h"

namespace deepinfer {
namespace cuda {

// Deterministic pseudo-random fill: value = offset + scale * uniform(-1, 1) from hash(seed, index).
void launch_fill_random(void* p, int64_t n, Dt dt, uint64_t seed, float scale, float offset, cudaStream_t s);

// Matrices uniform with std 0.02 (HF's initializer_range), norm weights 1, biases 0; each
// matrix its own seed, in load order.
class RandomWeights : public DeviceWeightSource {
 public:
  explicit RandomWeights(uint64_t seed) : next_(seed * 1000) {}
  void fill_matrix(void* d, int64_t rows, int64_t cols, Dt dt, cudaStream_t s) override;
  void fill_vector(float* d, int64_t n, Vector kind, cudaStream_t s) override;
  // Random E4M3 bytes (no NaN) with per-row scales giving the same std 0.02.
  void fill_matrix_fp8(uint8_t* d, float* row_scales, int64_t rows, int64_t cols, cudaStream_t s) override;

 private:
  uint64_t next_;
};

// Device copy bandwidth (bytes/s, read + write) on stream s.
double measure_copy_bandwidth(cudaStream_t s);
// bf16 GEMM rate (FLOP/s) of an n x n x n product through `gemm`.
double measure_gemm_rate(const Gemm& gemm, int n, cudaStream_t s);

}  // namespace cuda
}  // namespace deepinfer
