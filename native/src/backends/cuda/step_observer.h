// Seams of the CUDA backend for the benchmark tools (native/tools/cuda_bench/), which the
// production paths never use: a per-phase observer of forward steps, and a source of weights
// already on the device (random weights of a model's shape, no files).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.cuh"

namespace deepinfer {
namespace cuda {

// Told where a step's launch groups begin and end on the stream. While one is set, steps run
// eagerly (never as CUDA graphs: the observer records between launches). Invariant: begin(),
// then mark() per phase in launch order, then end() after the step's stream synchronisation.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void begin(cudaStream_t s) = 0;
  // `phase` (a string literal) ends here: the time since the previous mark or begin is its.
  virtual void mark(const char* phase, cudaStream_t s) = 0;
  virtual void end() = 0;
};

// Fills device tensors the backend allocated (and accounts for) in place of checkpoint
// tensors. Matrices are [rows, cols] of `dt`, or (FP8 weights) E4M3 bytes with one f32 scale per
// row; vectors are f32 norm weights (kNorm) or biases (kBias).
class DeviceWeightSource {
 public:
  enum class Vector { kNorm, kBias };
  virtual ~DeviceWeightSource() = default;
  virtual void fill_matrix(void* d, int64_t rows, int64_t cols, Dt dt, cudaStream_t s) = 0;
  virtual void fill_matrix_fp8(uint8_t* d, float* row_scales, int64_t rows, int64_t cols, cudaStream_t s) = 0;
  virtual void fill_vector(float* d, int64_t n, Vector kind, cudaStream_t s) = 0;
};

}  // namespace cuda
}  // namespace deepinfer
