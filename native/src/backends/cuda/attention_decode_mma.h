// attention_decode_mma.cu: the tensor-core (mma.sync) variant of the split-K decode partial
// kernel (DecodeAttn::kMma); same partitions, same o_part / ml_part layout and the same
// per-row invariance as the other decode kernels (decode_combine_kernel finishes the rows).
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

// Launches the mma partial kernel over `grid` (max_parts, Hkv, n_rows) and returns true when
// it supports `a`: f16/bf16, head_dim 64, 128 or 256, 1 <= Hq / Hkv <= 16, 16-byte aligned
// K/V caches and q. Returns false, launching nothing, otherwise.
bool launch_attention_decode_mma(const AttnParams& a, const DecodeRow* rows, dim3 grid, float* o_part,
                                 float* ml_part, cudaStream_t s);

}  // namespace cuda
}  // namespace deepinfer
