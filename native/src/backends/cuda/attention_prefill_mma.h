// attention_prefill_mma.cu: the tensor-core (mma.sync) variant of launch_attention_prefill
// (PrefillAttn::kMma); same function, same tiles, same per-row invariance as the FMA kernel.
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

// Launches the mma kernel and returns true when it supports `a`: f16/bf16, head_dim 16, 32, 64,
// 128 or 256, 16-byte aligned q/K/V. Returns false, launching nothing, otherwise.
bool launch_attention_prefill_mma(const AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s);

}  // namespace cuda
}  // namespace deepinfer
