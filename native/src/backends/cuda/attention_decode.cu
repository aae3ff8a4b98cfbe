// Paged attention for decode rows, flash-decoding style (split-K): block (partition p, KV head
// kh, row r) attends the group of Hq/Hkv query heads of kh to keys [p * part_len, ...) of the
// row's context, read through its block table in chunks of kDecodeChunk keys with an online
// softmax; the partial (unnormalised output, max, sum) goes to o_part / ml_part, and a second
// kernel combines the partitions. One K/V read serves the whole GQA group. Partitioning
// depends only on the row's own context length (step_plan.h), so the result of a row does not
// depend on the batch around it.
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kMaxElems = 32;  // (G * hd) / kThreads: G * hd <= 4096
constexpr int kMaxPerLane = 8; // hd / 32: hd <= 256

template <typename T>
__global__ void __launch_bounds__(kThreads) decode_partial_kernel(AttnParams a, const DecodeRow* __restrict__ rows,
                                                                  float* __restrict__ o_part,
                                                                  float* __restrict__ ml_part) {
  const DecodeRow d = rows[blockIdx.z];
  const int p = blockIdx.x;
  if (p >= d.num_parts) return;
  const int kh = blockIdx.y;
  const int hd = a.hd, G = a.Hq / a.Hkv, Gh = G * hd;
  const int bs = a.block_size;
  extern __shared__ float smem[];
  float* q_s = smem;                    // [G * hd]
  float* s_s = q_s + Gh;                // [G * kDecodeChunk]
  float* m_s = s_s + G * kDecodeChunk;  // [G]
  float* l_s = m_s + G;                 // [G]
  float* al_s = l_s + G;                // [G]
  int64_t* slot_s = reinterpret_cast<int64_t*>(al_s + G + (G & 1));  // [kDecodeChunk], 8-aligned
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int* bt = a.block_tables + d.bt_offset;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int k_begin = p * d.part_len;
  const int k_end = min(d.n_keys, k_begin + d.part_len);

  const float* q = a.qkv + static_cast<int64_t>(d.row) * a.nqkv + static_cast<int64_t>(kh) * Gh;
  for (int i = tid; i < Gh; i += kThreads) q_s[i] = q[i] * a.scale;
  for (int g = tid; g < G; g += kThreads) {
    m_s[g] = -INFINITY;
    l_s[g] = 0.f;
  }
  float acc[kMaxElems];
#pragma unroll
  for (int e = 0; e < kMaxElems; ++e) acc[e] = 0.f;
  const int per_lane = (hd + 31) / 32;
  __syncthreads();

  for (int c0 = k_begin; c0 < k_end; c0 += kDecodeChunk) {
    const int n = min(kDecodeChunk, k_end - c0);
    for (int j = tid; j < n; j += kThreads) {
      const int key = c0 + j;
      slot_s[j] = static_cast<int64_t>(bt[key / bs]) * bs + key % bs;
    }
    __syncthreads();
    // Scores: a warp per key, lanes over contiguous pieces of head_dim.
    for (int j = warp; j < n; j += kThreads / 32) {
      const T* kr = kc + (slot_s[j] * a.Hkv + kh) * hd;
      float kv[kMaxPerLane];
#pragma unroll
      for (int e = 0; e < kMaxPerLane; ++e) {
        const int dd = lane * per_lane + e;
        kv[e] = (e < per_lane && dd < hd) ? to_f32(kr[dd]) : 0.f;
      }
      for (int g = 0; g < G; ++g) {
        float s = 0.f;
#pragma unroll
        for (int e = 0; e < kMaxPerLane; ++e) {
          const int dd = lane * per_lane + e;
          if (e < per_lane && dd < hd) s = fmaf(q_s[g * hd + dd], kv[e], s);
        }
        s = warp_sum(s);
        if (lane == 0) s_s[g * kDecodeChunk + j] = s;
      }
    }
    __syncthreads();
    // Online softmax update, a warp per query head of the group.
    for (int g = warp; g < G; g += kThreads / 32) {
      float* sg = s_s + g * kDecodeChunk;
      float mx = -INFINITY;
      for (int j = lane; j < n; j += 32) mx = fmaxf(mx, sg[j]);
      mx = warp_max(mx);
      const float m_old = m_s[g];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.f;
      for (int j = lane; j < n; j += 32) {
        const float pj = expf(sg[j] - m_new);
        sg[j] = pj;
        sum += pj;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const float alpha = m_old == -INFINITY ? 0.f : expf(m_old - m_new);
        m_s[g] = m_new;
        l_s[g] = l_s[g] * alpha + sum;
        al_s[g] = alpha;
      }
    }
    __syncthreads();
    // acc = acc * alpha + P V, threads over (g, dim).
#pragma unroll
    for (int e = 0; e < kMaxElems; ++e) {
      const int idx = tid + e * kThreads;
      if (idx < Gh) {
        const int g = idx / hd, dd = idx - g * hd;
        const float* pg = s_s + g * kDecodeChunk;
        float v = acc[e] * al_s[g];
        for (int j = 0; j < n; ++j) v = fmaf(pg[j], to_f32(vc[(slot_s[j] * a.Hkv + kh) * hd + dd]), v);
        acc[e] = v;
      }
    }
    __syncthreads();
  }
  const int64_t base = (static_cast<int64_t>(blockIdx.z) * a.Hq + static_cast<int64_t>(kh) * G) * kDecodeMaxParts;
#pragma unroll
  for (int e = 0; e < kMaxElems; ++e) {
    const int idx = tid + e * kThreads;
    if (idx < Gh) {
      const int g = idx / hd, dd = idx - g * hd;
      o_part[((base + static_cast<int64_t>(g) * kDecodeMaxParts) + p) * hd + dd] = acc[e];
    }
  }
  for (int g = tid; g < G; g += kThreads) {
    float* ml = ml_part + ((base + static_cast<int64_t>(g) * kDecodeMaxParts) + p) * 2;
    ml[0] = m_s[g];
    ml[1] = l_s[g];
  }
}

template <typename T>
__global__ void decode_combine_kernel(AttnParams a, const DecodeRow* __restrict__ rows,
                                      const float* __restrict__ o_part, const float* __restrict__ ml_part) {
  const DecodeRow d = rows[blockIdx.x];
  const int h = blockIdx.y;
  const int hd = a.hd;
  const int64_t base = (static_cast<int64_t>(blockIdx.x) * a.Hq + h) * kDecodeMaxParts;
  float M = -INFINITY;
  for (int p = 0; p < d.num_parts; ++p) M = fmaxf(M, ml_part[(base + p) * 2]);
  float denom = 0.f;
  for (int p = 0; p < d.num_parts; ++p) {
    const float m = ml_part[(base + p) * 2], l = ml_part[(base + p) * 2 + 1];
    if (l > 0.f) denom += l * expf(m - M);
  }
  T* out = static_cast<T*>(a.out) + static_cast<int64_t>(d.row) * a.Hq * hd + static_cast<int64_t>(h) * hd;
  for (int dd = threadIdx.x; dd < hd; dd += blockDim.x) {
    float num = 0.f;
    for (int p = 0; p < d.num_parts; ++p) {
      const float m = ml_part[(base + p) * 2], l = ml_part[(base + p) * 2 + 1];
      if (l > 0.f) num += o_part[(base + p) * hd + dd] * expf(m - M);
    }
    out[dd] = from_f32<T>(num / denom);
  }
}

}  // namespace

void launch_attention_decode(const AttnParams& a, const DecodeRow* rows, int n_rows, int max_parts, float* o_part,
                             float* ml_part, cudaStream_t s) {
  if (n_rows == 0) return;
  const int G = a.Hq / a.Hkv;
  const size_t smem = sizeof(float) * (static_cast<size_t>(G) * a.hd + static_cast<size_t>(G) * kDecodeChunk + 3 * G +
                                       (G & 1)) +
                      sizeof(int64_t) * kDecodeChunk;
  const dim3 grid(max_parts, a.Hkv, n_rows);
  DI_DISPATCH_DT(a.dt, E, {
    decode_partial_kernel<E><<<grid, kThreads, smem, s>>>(a, rows, o_part, ml_part);
    DI_CUDA_LAUNCH_CHECK("attention_decode_partial");
    const int threads = ((a.hd + 31) / 32) * 32;
    decode_combine_kernel<E><<<dim3(n_rows, a.Hq), threads, 0, s>>>(a, rows, o_part, ml_part);
    DI_CUDA_LAUNCH_CHECK("attention_decode_combine");
  });
}

}  // namespace cuda
}  // namespace deepinfer
