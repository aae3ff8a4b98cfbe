// q/k preparation after the QKV GEMM, per token (one block): + qkv bias (Qwen2), per-head
// RMSNorm of q and k (Qwen3), then RoPE in the rotate-half layout (HF's rotate_half: pairs
// (i, i + hd/2)). cos/sin of position * inv_freq are computed in double and rounded to f32,
// as the CPU backend does, so both backends rotate by the same f32 values. inv_freq carries
// the llama3 frequency scaling (computed on the host, core/rope_freq.h).
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {
__global__ void qkv_rope_kernel(float* __restrict__ qkv, const int32_t* __restrict__ positions,
                                const double* __restrict__ inv_freq, int Hq, int Hkv, int hd,
                                const float* __restrict__ bias, const float* __restrict__ q_norm,
                                const float* __restrict__ k_norm, float eps) {
  extern __shared__ float cs[];  // [hd]: cos in [0, hd/2), sin in [hd/2, hd)
  const int t = blockIdx.x;
  const int half = hd / 2;
  const int nqk = (Hq + Hkv) * hd;
  const int nqkv = (Hq + 2 * Hkv) * hd;
  float* row = qkv + static_cast<int64_t>(t) * nqkv;
  const double pos = static_cast<double>(positions[t]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    double sn, cn;
    sincos(pos * inv_freq[i], &sn, &cn);
    cs[i] = static_cast<float>(cn);
    cs[half + i] = static_cast<float>(sn);
  }
  if (bias != nullptr) {
    for (int i = threadIdx.x; i < nqkv; i += blockDim.x) row[i] += bias[i];
  }
  __syncthreads();
  // One warp per head (q heads then k heads).
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int h = warp; h < Hq + Hkv; h += nw) {
    float* v = row + h * hd;
    const float* nw_ = h < Hq ? q_norm : k_norm;
    float scale = 1.f;
    if (nw_ != nullptr) {
      float ss = 0.f;
      for (int i = lane; i < hd; i += 32) ss += v[i] * v[i];
      ss = warp_sum(ss);
      scale = 1.f / sqrtf(ss / static_cast<float>(hd) + eps);
    }
    for (int i = lane; i < half; i += 32) {
      float x1 = v[i], x2 = v[half + i];
      if (nw_ != nullptr) {
        x1 = x1 * scale * nw_[i];
        x2 = x2 * scale * nw_[half + i];
      }
      v[i] = x1 * cs[i] - x2 * cs[half + i];
      v[half + i] = x2 * cs[i] + x1 * cs[half + i];
    }
  }
  (void)nqk;
}
}  // namespace

void launch_qkv_rope(float* qkv, int T, const int32_t* positions, const double* inv_freq, int Hq, int Hkv, int hd,
                     const float* bias, const float* q_norm, const float* k_norm, float eps, cudaStream_t s) {
  if (T == 0) return;
  qkv_rope_kernel<<<T, 256, sizeof(float) * hd, s>>>(qkv, positions, inv_freq, Hq, Hkv, hd, bias, q_norm, k_norm, eps);
  DI_CUDA_LAUNCH_CHECK("qkv_rope");
}

}  // namespace cuda
}  // namespace deepinfer
