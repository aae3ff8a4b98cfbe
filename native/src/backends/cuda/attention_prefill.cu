// Paged causal attention for prefill chunks, flash-attention style with FMA (PrefillAttn::kFma,
// and the fallback of kMma: f32 caches, head_dims the tensor-core kernel of
// attention_prefill_mma.cu does not instantiate). Block =
// (tile of up to 64 consecutive rows of one sequence, query head h); 4 threads per row, each
// owning head_dim / 4 interleaved dimensions (d = sub + 4 k, so the 4 threads of a row read
// adjacent shared-memory words). K/V tiles of BK keys are read through the block table, from
// key 0 (earlier context, prefix-cache hits) up to the tile's last position, into shared
// memory as f32. The online softmax goes key by key, so a row's arithmetic is the same
// whatever tile (chunk) it falls in: chunked and whole prefills give identical rows.
#include "backends/cuda/attention_prefill_mma.h"
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {

template <typename T, int DPT>
__global__ void __launch_bounds__(256) prefill_kernel(AttnParams a, const PrefillTile* __restrict__ tiles, int BK) {
  extern __shared__ float smem[];
  const PrefillTile tile = tiles[blockIdx.x];
  const int h = blockIdx.y;
  const int hd = a.hd, G = a.Hq / a.Hkv, kh = h / G, bs = a.block_size;
  float* Ks = smem;                 // [BK][hd]
  float* Vs = smem + BK * hd;       // [BK][hd]
  const int tid = threadIdx.x, i = tid >> 2, sub = tid & 3;
  const bool active = i < tile.n_rows;
  const int pos = tile.pos0 + i;
  const int n_keys = tile.pos0 + tile.n_rows;
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int* bt = a.block_tables + tile.bt_offset;

  float q[DPT], acc[DPT];
  const float* qrow = a.qkv + static_cast<int64_t>(tile.row0 + (active ? i : 0)) * a.nqkv + static_cast<int64_t>(h) * hd;
#pragma unroll
  for (int k = 0; k < DPT; ++k) {
    const int d = sub + 4 * k;
    q[k] = (active && d < hd) ? qrow[d] * a.scale : 0.f;
    acc[k] = 0.f;
  }
  float m = -INFINITY, l = 0.f;

  for (int k0 = 0; k0 < n_keys; k0 += BK) {
    const int nk = min(BK, n_keys - k0);
    for (int idx = tid; idx < nk * hd; idx += 256) {
      const int j = idx / hd, dd = idx - j * hd;
      const int key = k0 + j;
      const int64_t slot = static_cast<int64_t>(bt[key / bs]) * bs + key % bs;
      const int64_t off = (slot * a.Hkv + kh) * hd + dd;
      Ks[idx] = to_f32(kc[off]);
      Vs[idx] = to_f32(vc[off]);
    }
    __syncthreads();
    for (int j = 0; j < nk; ++j) {
      const float* kr = Ks + j * hd;
      float s = 0.f;
#pragma unroll
      for (int k = 0; k < DPT; ++k) {
        const int d = sub + 4 * k;
        if (d < hd) s = fmaf(q[k], kr[d], s);
      }
      s += __shfl_xor_sync(0xffffffffu, s, 1);
      s += __shfl_xor_sync(0xffffffffu, s, 2);
      if (active && k0 + j <= pos) {
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new);
        const float pj = expf(s - m_new);
        l = l * corr + pj;
        const float* vr = Vs + j * hd;
#pragma unroll
        for (int k = 0; k < DPT; ++k) {
          const int d = sub + 4 * k;
          if (d < hd) acc[k] = fmaf(pj, vr[d], acc[k] * corr);
        }
        m = m_new;
      }
    }
    __syncthreads();
  }
  if (!active) return;
  T* out = static_cast<T*>(a.out) + static_cast<int64_t>(tile.row0 + i) * a.Hq * hd + static_cast<int64_t>(h) * hd;
  const float inv = 1.f / l;
#pragma unroll
  for (int k = 0; k < DPT; ++k) {
    const int d = sub + 4 * k;
    if (d < hd) out[d] = from_f32<T>(acc[k] * inv);
  }
}

template <typename T, int DPT>
void launch_t(const AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s) {
  const int BK = a.hd <= 128 ? 32 : 16;
  const size_t smem = sizeof(float) * 2 * BK * a.hd;
  prefill_kernel<T, DPT><<<dim3(n_tiles, a.Hq), 256, smem, s>>>(a, tiles, BK);
}

}  // namespace

void launch_attention_prefill(const AttnParams& a, const PrefillTile* tiles, int n_tiles, PrefillAttn kind,
                              cudaStream_t s) {
  if (n_tiles == 0) return;
  if (kind == PrefillAttn::kMma && launch_attention_prefill_mma(a, tiles, n_tiles, s)) return;
  const int dpt = (a.hd + 3) / 4;
  DI_DISPATCH_DT(a.dt, E, {
    if (dpt <= 2) launch_t<E, 2>(a, tiles, n_tiles, s);
    else if (dpt <= 4) launch_t<E, 4>(a, tiles, n_tiles, s);
    else if (dpt <= 8) launch_t<E, 8>(a, tiles, n_tiles, s);
    else if (dpt <= 16) launch_t<E, 16>(a, tiles, n_tiles, s);
    else if (dpt <= 32) launch_t<E, 32>(a, tiles, n_tiles, s);
    else launch_t<E, 64>(a, tiles, n_tiles, s);
  });
  DI_CUDA_LAUNCH_CHECK("attention_prefill");
}

}  // namespace cuda
}  // namespace deepinfer
