// FP8 on the card (issue 17): the fp8 KV cache (kv write and attention over E4M3 K/V with a
// power-of-two scale per (slot, kv head), the scheme of core/kv_fp8.h) and the FP8 weight GEMV
// (E4M3 bytes with f32 scales per (row, run of kblock columns), the layout of the CPU
// backend's PackedMatrix::q8 scales, row-major here). Reachable from test_cuda_fp8 only: the
// backend refuses FP8 weights and fp8 KV until gpu-check.sh has validated these on a GPU.
//
// Simple first versions, correct before fast: attention is a warp per (query row, head) over
// all its keys in order (no split-K, no tensor cores), each lane owning hd/32 dimensions;
// the GEMV is a warp per output row, 16 weight bytes per lane per load, dequantised in
// registers, up to 8 activation rows per pass (larger M loops; a dequantise-to-bf16 tile +
// cuBLAS path for prefill is left for after validation).
#include <cuda_fp8.h>

#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {

__device__ __forceinline__ float e4m3_to_f32(uint8_t b) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(b), __NV_E4M3)));
}

__device__ __forceinline__ uint8_t f32_to_e4m3(float f) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3));  // RNE, saturating
}

// core/kv_fp8.h's kv_fp8_exponent: the smallest e with amax * 2^-e <= 448 (exact comparisons,
// so host and device agree bit for bit), clamped to [-126, 126]; 0 for amax 0.
__device__ __forceinline__ int kv_exponent(float amax) {
  if (!(amax > 0.f) || isinf(amax)) return 0;
  int e = static_cast<int>(ceilf(log2f(amax / 448.f)));
  while (ldexpf(amax, -e) > 448.f) ++e;
  while (ldexpf(amax, -(e - 1)) <= 448.f) --e;
  return e < -126 ? -126 : e > 126 ? 126 : e;
}

// One block per token; warp w handles rows (head, K or V) w, w + nwarps, ...
__global__ void kv_write_fp8_kernel(const float* __restrict__ qkv, int nqkv, int k_off, int Hkv, int hd,
                                    const int64_t* __restrict__ slots, uint8_t* __restrict__ k8,
                                    uint8_t* __restrict__ v8, int8_t* __restrict__ ke, int8_t* __restrict__ ve) {
  const int t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const float* row = qkv + static_cast<int64_t>(t) * nqkv + k_off;
  const int kvd = Hkv * hd;
  for (int r = warp; r < 2 * Hkv; r += nw) {
    const int h = r % Hkv;
    const bool is_v = r >= Hkv;
    const float* x = row + (is_v ? kvd : 0) + h * hd;
    float amax = 0.f;
    for (int i = lane; i < hd; i += 32) amax = fmaxf(amax, fabsf(x[i]));
    amax = warp_max(amax);
    const int e = kv_exponent(amax);
    uint8_t* q = (is_v ? v8 : k8) + (slot * Hkv + h) * hd;
    for (int i = lane; i < hd; i += 32) q[i] = f32_to_e4m3(ldexpf(x[i], -e));
    if (lane == 0) (is_v ? ve : ke)[slot * Hkv + h] = static_cast<int8_t>(e);
  }
}

constexpr int kMaxDimsPerLane = 8;  // hd <= 256

// Causal attention of one query row (head hq) over keys [0, n_keys) through its block table,
// by one warp: lane owns dimensions lane, lane + 32, ...; online softmax in key order.
template <typename T>
__device__ void attend_row_fp8(const Fp8AttnParams& a, int row, int hq, int n_keys, const int32_t* bt) {
  const int lane = threadIdx.x & 31;
  const int hd = a.hd, kvh = hq / (a.Hq / a.Hkv), kvd = a.Hkv * hd;
  const float* q = a.qkv + static_cast<int64_t>(row) * a.nqkv + hq * hd;
  float qv[kMaxDimsPerLane], acc[kMaxDimsPerLane];
  const int nd = (hd - lane + 31) / 32;
#pragma unroll
  for (int i = 0; i < kMaxDimsPerLane; ++i) {
    qv[i] = i < nd ? q[lane + 32 * i] : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = 0; j < n_keys; ++j) {
    const int64_t slot = static_cast<int64_t>(bt[j / a.block_size]) * a.block_size + j % a.block_size;
    const int64_t r = slot * a.Hkv + kvh;
    const uint8_t* kr = a.k8 + slot * kvd + kvh * hd;
    const uint8_t* vr = a.v8 + slot * kvd + kvh * hd;
    const float ks = __int_as_float((a.k_exp[r] + 127) << 23), vs = __int_as_float((a.v_exp[r] + 127) << 23);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kMaxDimsPerLane; ++i) {
      if (i < nd) s += qv[i] * e4m3_to_f32(kr[lane + 32 * i]);
    }
    s = warp_sum(s) * ks * a.scale;
    const float m2 = fmaxf(m, s);
    const float corr = __expf(m - m2), p = __expf(s - m2);
    l = l * corr + p;
#pragma unroll
    for (int i = 0; i < kMaxDimsPerLane; ++i) {
      if (i < nd) acc[i] = acc[i] * corr + p * (e4m3_to_f32(vr[lane + 32 * i]) * vs);
    }
    m = m2;
  }
  T* out = static_cast<T*>(a.out) + static_cast<int64_t>(row) * a.Hq * hd + hq * hd;
  const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
  for (int i = 0; i < kMaxDimsPerLane; ++i) {
    if (i < nd) out[lane + 32 * i] = from_f32<T>(acc[i] * inv);
  }
}

// Decode: block (row r, head group of 4 warps); warp w takes head blockIdx.y * 4 + w.
template <typename T>
__global__ void attention_decode_fp8_kernel(Fp8AttnParams a, const DecodeRow* __restrict__ rows) {
  const DecodeRow d = rows[blockIdx.x];
  const int hq = blockIdx.y * 4 + (threadIdx.x >> 5);
  if (hq >= a.Hq) return;
  attend_row_fp8<T>(a, d.row, hq, d.n_keys, a.block_tables + d.bt_offset);
}

// Prefill: block (tile, head); warps take the tile's rows in turn.
template <typename T>
__global__ void attention_prefill_fp8_kernel(Fp8AttnParams a, const PrefillTile* __restrict__ tiles) {
  const PrefillTile t = tiles[blockIdx.x];
  const int hq = blockIdx.y;
  for (int i = threadIdx.x >> 5; i < t.n_rows; i += blockDim.x >> 5) {
    attend_row_fp8<T>(a, t.row0 + i, hq, t.pos0 + i + 1, a.block_tables + t.bt_offset);
  }
}

// C[m][n] (+)= sum_k A[m][k] * e4m3(W[n][k]) * scales[n][k / kblock], one warp per n.
template <typename T>
__global__ void gemv_fp8_kernel(const T* __restrict__ A, const uint8_t* __restrict__ W,
                                const float* __restrict__ scales, int kblock, float* __restrict__ C, int M, int N,
                                int K, int ldc, bool accumulate) {
  constexpr int kRows = 8;
  const int lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (n >= N) return;
  const int nkb = (K + kblock - 1) / kblock;
  const uint8_t* w = W + static_cast<int64_t>(n) * K;
  const float* sc = scales + static_cast<int64_t>(n) * nkb;
  for (int m0 = 0; m0 < M; m0 += kRows) {
    const int mr = M - m0 < kRows ? M - m0 : kRows;
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.f;
    // 16 consecutive bytes per lane per step when K allows (rows 16-byte aligned), else bytes.
    const bool vec = (K % 16 == 0) && (reinterpret_cast<uintptr_t>(W) % 16 == 0);
    const int step = vec ? 16 : 1;
    for (int k0 = lane * step; k0 < K; k0 += 32 * step) {
      // 16 bytes in four 32-bit words (registers; byte i is bits 8 (i % 4) of word i / 4).
      uint4 raw = make_uint4(w[k0], 0u, 0u, 0u);
      if (vec) raw = *reinterpret_cast<const uint4*>(w + k0);
      const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
      for (int i = 0; i < step; ++i) {
        const int k = k0 + i;
        const uint8_t byte = static_cast<uint8_t>(words[i >> 2] >> (8 * (i & 3)));
        const float wv = e4m3_to_f32(byte) * sc[k / kblock];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r < mr) acc[r] += to_f32(A[static_cast<int64_t>(m0 + r) * K + k]) * wv;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float v = warp_sum(acc[r]);
      if (lane == 0 && r < mr) {
        float* c = C + static_cast<int64_t>(m0 + r) * ldc + n;
        *c = accumulate ? *c + v : v;
      }
    }
  }
}

}  // namespace

void launch_kv_write_fp8(const float* qkv, int T, int nqkv, int k_off, int Hkv, int hd, const int64_t* slots,
                         uint8_t* k8, uint8_t* v8, int8_t* k_exp, int8_t* v_exp, cudaStream_t s) {
  if (T == 0) return;
  kv_write_fp8_kernel<<<T, 128, 0, s>>>(qkv, nqkv, k_off, Hkv, hd, slots, k8, v8, k_exp, v_exp);
  DI_CUDA_LAUNCH_CHECK("kv_write_fp8");
}

void launch_attention_decode_fp8(const Fp8AttnParams& a, const DecodeRow* rows, int n_rows, cudaStream_t s) {
  if (n_rows == 0) return;
  if (a.hd > 32 * kMaxDimsPerLane) throw Error("fp8 attention: head_dim > 256");
  const dim3 grid(static_cast<unsigned>(n_rows), static_cast<unsigned>((a.Hq + 3) / 4));
  DI_DISPATCH_DT(a.dt, E, attention_decode_fp8_kernel<E><<<grid, 128, 0, s>>>(a, rows));
  DI_CUDA_LAUNCH_CHECK("attention_decode_fp8");
}

void launch_attention_prefill_fp8(const Fp8AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s) {
  if (n_tiles == 0) return;
  if (a.hd > 32 * kMaxDimsPerLane) throw Error("fp8 attention: head_dim > 256");
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(a.Hq));
  DI_DISPATCH_DT(a.dt, E, attention_prefill_fp8_kernel<E><<<grid, 256, 0, s>>>(a, tiles));
  DI_CUDA_LAUNCH_CHECK("attention_prefill_fp8");
}

void launch_gemv_fp8(const void* A, Dt dt, const uint8_t* W, const float* scales, int kblock, float* C, int M, int N,
                     int K, int ldc, bool accumulate, cudaStream_t s) {
  if (M == 0 || N == 0) return;
  const int warps = 8;
  const unsigned blocks = static_cast<unsigned>((N + warps - 1) / warps);
  DI_DISPATCH_DT(dt, E,
                 gemv_fp8_kernel<E><<<blocks, 32 * warps, 0, s>>>(static_cast<const E*>(A), W, scales, kblock, C, M,
                                                                   N, K, ldc, accumulate));
  DI_CUDA_LAUNCH_CHECK("gemv_fp8");
}

}  // namespace cuda
}  // namespace deepinfer
