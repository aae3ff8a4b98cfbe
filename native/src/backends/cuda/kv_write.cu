// Writing K/V into paged blocks: each token's K and V rows (all KV heads, contiguous) go to
// slot = block_table[pos / bs] * bs + pos % bs (computed on the host in StepPlan, the same
// rule as the CPU backend). Layout per layer: [num_blocks * block_size][Hkv][hd]. Slot -1
// marks a padding row of a CUDA-graph step (graph_plan.h): nothing is written for it.
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {
template <typename T>
__global__ void kv_write_kernel(const float* __restrict__ qkv, int nqkv, int k_off, int kvd,
                                const int64_t* __restrict__ slots, T* __restrict__ kc, T* __restrict__ vc) {
  const int t = blockIdx.x;
  if (slots[t] < 0) return;
  const float* row = qkv + static_cast<int64_t>(t) * nqkv;
  const int64_t base = slots[t] * kvd;
  for (int i = threadIdx.x; i < kvd; i += blockDim.x) {
    kc[base + i] = from_f32<T>(row[k_off + i]);
    vc[base + i] = from_f32<T>(row[k_off + kvd + i]);
  }
}
}  // namespace

void launch_kv_write(const float* qkv, int T, int nqkv, int k_off, int kvd, const int64_t* slots, void* k_cache,
                     void* v_cache, Dt dt, cudaStream_t s) {
  if (T == 0) return;
  DI_DISPATCH_DT(dt, E,
                 kv_write_kernel<E><<<T, 128, 0, s>>>(qkv, nqkv, k_off, kvd, slots, static_cast<E*>(k_cache),
                                                      static_cast<E*>(v_cache)));
  DI_CUDA_LAUNCH_CHECK("kv_write");
}

}  // namespace cuda
}  // namespace deepinfer
