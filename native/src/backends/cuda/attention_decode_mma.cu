// Decode partial attention on tensor cores (DecodeAttn::kMma), FlashInfer-style GQA decode:
// block (partition p, KV head kh, row r) as in attention_decode.cu, but the G query heads of the
// group are the M dimension of m16n8k16 mma.sync tiles (rows >= G are zero padding), so one K/V
// read serves the whole group at tensor-core rate.
//   q       f32 rows * scale * log2(e), rounded once to the cache type; kept in registers as A
//           fragments (hd <= 128) or in shared memory (hd 256).
//   load    chunks of C keys (64; 32 at hd 256) of K and V staged with 16-byte cp.async, double
//           buffered (chunk c + 1 copies while chunk c is computed), rows past the partition
//           zero-filled. Rows are padded by 16 bytes: the 8 rows of an ldmatrix phase start 4
//           banks apart.
//   warps   warp w owns the 16-key slice ks = w % (C / 16) of every chunk and the head_dim
//           range ds = w / (C / 16) of the output (hd 256: two warps share a key slice, each
//           computes its scores and keeps half of the dims). S = Q K^T (ldmatrix of K rows),
//           keys >= k_end masked to -inf, online softmax in f32 registers (base 2), P rounded
//           to the cache type, O += P V (ldmatrix.trans of V rows).
//   merge   at the end each warp's (m, l, O) goes to shared memory and the key slices are
//           merged in a fixed order (log-sum-exp), so the result of a row depends only on its
//           DecodeRow and the cache. m is written in natural-log units, as the combine expects.
#include "backends/cuda/attention_decode_mma.h"
#include "backends/cuda/mma_primitives.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace deepinfer {
namespace cuda {

namespace {

constexpr int kMmaThreads = 128;  // 4 warps
constexpr int kMmaWarps = kMmaThreads / 32;
constexpr int kMaxGroup = 16;     // query heads per KV head: the M of one mma tile
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Shared-memory layout of one head_dim (16-bit elements; bytes):
//   [0, kStageBytes)        stages [2][K, V][kC][kLd]; after the loop: merge scratch
//                           red [4 warps][16][kDW] f32 and ml [4][16][2] f32
//   kOffQ                   Q [16][kLd] (hd 256 only; hd <= 128 passes Q through stage 1,
//                           which is not written before the loop's first barrier)
//   kOffOffs                int64 [2][kC]: element offsets of the keys of chunks c + 1, c + 2
//                           by parity (chunk 0 computes its own)
template <int HD>
struct MmaCfg {
  static constexpr bool kQInRegs = HD <= 128;
  static constexpr int kC = HD <= 128 ? 64 : 32;   // keys per chunk
  static constexpr int kKS = kC / 16;              // key slices per chunk (4 or 2)
  static constexpr int kDS = kMmaWarps / kKS;      // head_dim ranges (1 or 2)
  static constexpr int kDW = HD / kDS;             // dims per warp
  static constexpr int kLd = HD + 8;               // elements per staged row (+16 bytes)
  static constexpr int kStageElems = 2 * kC * kLd; // K and V of one chunk
  static constexpr size_t kStageBytes = 2 * kStageElems * sizeof(uint16_t);
  static constexpr size_t kRedBytes = (kMmaWarps * 16 * kDW + kMmaWarps * 16 * 2) * sizeof(float);
  static constexpr size_t kOffQ = kStageBytes;
  static constexpr size_t kOffOffs = kOffQ + (kQInRegs ? 0 : 16 * kLd * sizeof(uint16_t));
  static constexpr size_t kSmem = kOffOffs + 2 * kC * sizeof(int64_t);
  static_assert(kRedBytes <= kStageBytes, "merge scratch fits the stages");
  static_assert(!kQInRegs || 16 * kLd <= kStageElems, "Q fits stage 1");
  static_assert(kC * HD / 8 % kMmaThreads == 0, "whole copies per thread");
};

// Three blocks per SM on H100 / H200 (hd 128: 70,656 bytes of shared memory, <= 168 registers;
// ptxas takes 156-168 by architecture, no spills); one on sm_89 / sm_120 (100 KB per SM).
constexpr int kMmaMinBlocks = 3;

template <typename T, int HD>
__global__ void __launch_bounds__(kMmaThreads, kMmaMinBlocks)
    decode_mma_kernel(AttnParams a, const DecodeRow* __restrict__ rows, float* __restrict__ o_part,
                      float* __restrict__ ml_part) {
  using Cfg = MmaCfg<HD>;
  constexpr int kC = Cfg::kC, kKS = Cfg::kKS, kDW = Cfg::kDW, kLd = Cfg::kLd;
  constexpr bool kQInRegs = Cfg::kQInRegs;
  constexpr int kDT = kDW / 8;  // n-tiles (8 dims) of this warp's O
  const DecodeRow d = rows[blockIdx.z];
  const int p = blockIdx.x;
  if (p >= d.num_parts) return;
  const int kh = blockIdx.y;
  const int G = a.Hq / a.Hkv, bs = a.block_size;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* stage = reinterpret_cast<T*>(smem_raw);  // [2][K, V][kC][kLd]
  T* Qs = kQInRegs ? stage + Cfg::kStageElems : reinterpret_cast<T*>(smem_raw + Cfg::kOffQ);
  int64_t* offs = reinterpret_cast<int64_t*>(smem_raw + Cfg::kOffOffs);  // [2][kC]
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int* bt = a.block_tables + d.bt_offset;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int ks = warp % kKS, ds = warp / kKS;
  const int k_begin = p * d.part_len;
  const int k_end = min(d.n_keys, k_begin + d.part_len);
  const int n_chunks = k_end > k_begin ? (k_end - k_begin + kC - 1) / kC : 0;

  // Element offset of key `key`'s head row; -1 past the partition (zero-filled).
  auto key_offset = [&](int key) -> int64_t {
    if (key >= k_end) return -1;
    const int64_t slot = static_cast<int64_t>(bt[key / bs]) * bs + key % bs;
    return (slot * a.Hkv + kh) * HD;
  };
  // K and V rows of chunk c into stage c & 1; consecutive threads take consecutive 16-byte
  // pieces of a row (coalesced). Offsets come from offs, computed a chunk ahead, except for
  // chunk 0: its threads read the block table themselves, so its copy starts at once.
  auto issue = [&](int c) {
    constexpr int kPieces = HD / 8;
    T* ks_dst = stage + (c & 1) * Cfg::kStageElems;
    T* vs_dst = ks_dst + kC * kLd;
    const int64_t* of = offs + (c & 1) * kC;
#pragma unroll
    for (int i = 0; i < kC * kPieces / kMmaThreads; ++i) {
      const int idx = tid + i * kMmaThreads, j = idx / kPieces, col = (idx % kPieces) * 8;
      const int64_t off = c == 0 ? key_offset(k_begin + j) : of[j];
      const int bytes = off < 0 ? 0 : 16;
      cp_async16(ks_dst + j * kLd + col, off < 0 ? kc : kc + off + col, bytes);
      cp_async16(vs_dst + j * kLd + col, off < 0 ? vc : vc + off + col, bytes);
    }
  };

  // Prologue: chunk 0 in flight, offsets of chunk 1, Q (rows >= G zero) rounded to T.
  if (n_chunks > 0) issue(0);
  cp_async_commit();
  if (tid < kC) offs[kC + tid] = key_offset(k_begin + kC + tid);
  {
    const float qscale = a.scale * kLog2e;
    const float* q = a.qkv + static_cast<int64_t>(d.row) * a.nqkv + static_cast<int64_t>(kh) * G * HD;
    for (int idx = tid; idx < 16 * HD / 4; idx += kMmaThreads) {
      const int r = idx / (HD / 4), col = (idx % (HD / 4)) * 4;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < G) v = *reinterpret_cast<const float4*>(q + r * HD + col);
      *reinterpret_cast<uint2*>(Qs + r * kLd + col) =
          make_uint2(pack2<T>(v.x * qscale, v.y * qscale), pack2<T>(v.z * qscale, v.w * qscale));
    }
  }
  __syncthreads();

  // A operand of S = Q K^T for dims 16kk..16kk+15: lane l addresses head row l % 16, dim half
  // l / 16 (matrices a0..a3 = rows 0-7 | 8-15 x dims 0-7 | 8-15).
  const T* q_frag = Qs + (lane & 15) * kLd + (lane >> 4) * 8;
  uint32_t qf[kQInRegs ? HD / 16 : 1][4];
  if constexpr (kQInRegs) {
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) ldmatrix_x4(qf[kk], q_frag + kk * 16);
  }

  float o[kDT][4];
#pragma unroll
  for (int n = 0; n < kDT; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY};  // running max (base-2 units) of rows g, g + 8
  float l[2] = {0.f, 0.f};              // this lane's part of the running sums

  for (int c = 0; c < n_chunks; ++c) {
    cp_async_wait_all();
    // Chunk c visible; every warp is done with chunk c - 1 (stage (c + 1) & 1) and, at c = 0,
    // with the Q it read out of stage 1.
    __syncthreads();
    if (c + 1 < n_chunks) issue(c + 1);
    cp_async_commit();
    // offs[c & 1] was last read by issue(c), before the barrier above; issue(c + 2) reads it
    // after the next barrier.
    if (c + 2 < n_chunks && tid < kC) offs[(c & 1) * kC + tid] = key_offset(k_begin + (c + 2) * kC + tid);

    const T* Ks = stage + (c & 1) * Cfg::kStageElems + ks * 16 * kLd;  // this warp's 16 keys
    const T* Vs = Ks + kC * kLd;
    const int key0 = k_begin + c * kC + ks * 16;
    if (key0 >= k_end) continue;  // warp-uniform: the whole slice is masked (no barrier below)

    // S (16 heads x 16 keys): s[n] = keys 8n..8n+7.
    float s[2][4];
#pragma unroll
    for (int n = 0; n < 2; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      uint32_t qa[4];
      if constexpr (kQInRegs) {
#pragma unroll
        for (int i = 0; i < 4; ++i) qa[i] = qf[kk][i];
      } else {
        ldmatrix_x4(qa, q_frag + kk * 16);
      }
      // B = K^T: matrices keys 0-7 dims 0-7 (b0 of s[0]), keys 0-7 dims 8-15 (b1), keys 8-15
      // dims 0-7 (b0 of s[1]), keys 8-15 dims 8-15 (b1).
      uint32_t kb[4];
      ldmatrix_x4(kb, Ks + ((lane & 7) + ((lane >> 4) << 3)) * kLd + kk * 16 + ((lane >> 3) & 1) * 8);
      mma16816<T>(s[0], qa, kb[0], kb[1]);
      mma16816<T>(s[1], qa, kb[2], kb[3]);
    }
    if (key0 + 16 > k_end) {
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (key0 + n * 8 + 2 * t4 + (e & 1) >= k_end) s[n][e] = -INFINITY;
    }

    // Online softmax over the slice; the 4 lanes of a row (t4) share its 16 columns. Key key0
    // is valid, so every row's max is finite from here on.
    float corr[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float mx = fmaxf(fmaxf(s[0][2 * i], s[0][2 * i + 1]), fmaxf(s[1][2 * i], s[1][2 * i + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m[i], mx);
      corr[i] = exp2f(m[i] - m_new);  // 0 while m = -inf
      m[i] = m_new;
      l[i] *= corr[i];
    }
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[n][e] = exp2f(s[n][e] - m[e >> 1]);
        l[e >> 1] += s[n][e];
      }
#pragma unroll
    for (int n = 0; n < kDT; ++n) {
      o[n][0] *= corr[0];
      o[n][1] *= corr[0];
      o[n][2] *= corr[1];
      o[n][3] *= corr[1];
    }
    // P as the A operand (16 heads x 16 keys).
    uint32_t pa[4];
    pa[0] = pack2<T>(s[0][0], s[0][1]);
    pa[1] = pack2<T>(s[0][2], s[0][3]);
    pa[2] = pack2<T>(s[1][0], s[1][1]);
    pa[3] = pack2<T>(s[1][2], s[1][3]);
    // O += P V over this warp's dims: B = V rows (keys) loaded with .trans; matrices keys 0-7
    // dims 0-7 (b0 of n-tile 2dp), keys 8-15 dims 0-7 (b1), keys 0-7 dims 8-15 (b0 of 2dp+1),
    // keys 8-15 dims 8-15 (b1).
    const T* v_frag = Vs + ((lane & 7) + ((lane >> 3) & 1) * 8) * kLd + ds * kDW + (lane >> 4) * 8;
#pragma unroll
    for (int dp = 0; dp < kDT / 2; ++dp) {
      uint32_t vb[4];
      ldmatrix_x4_trans(vb, v_frag + dp * 16);
      mma16816<T>(o[2 * dp], pa, vb[0], vb[1]);
      mma16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
    }
  }
  // Only empty groups can be pending; every warp is done with the stages after the barrier.
  cp_async_wait_all();
  __syncthreads();

  // Merge the key slices: red [warp][16][kDW], mls [warp][16][2] = (m, l) in base 2.
  float* red = reinterpret_cast<float*>(smem_raw);
  float* mls = red + kMmaWarps * 16 * kDW;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = g + 8 * i;
    if (t4 == 0) {
      mls[(warp * 16 + r) * 2] = m[i];
      mls[(warp * 16 + r) * 2 + 1] = l[i];
    }
#pragma unroll
    for (int n = 0; n < kDT; ++n)
      *reinterpret_cast<float2*>(red + (warp * 16 + r) * kDW + n * 8 + 2 * t4) =
          make_float2(o[n][2 * i], o[n][2 * i + 1]);
  }
  __syncthreads();
  const int64_t base = (static_cast<int64_t>(blockIdx.z) * a.Hq + static_cast<int64_t>(kh) * G) * kDecodeMaxParts;
  for (int idx = tid; idx < G * HD; idx += kMmaThreads) {
    const int r = idx / HD, dd = idx % HD, dr = dd / kDW, dl = dd % kDW;
    float M = -INFINITY;
#pragma unroll
    for (int k = 0; k < kKS; ++k) M = fmaxf(M, mls[((dr * kKS + k) * 16 + r) * 2]);
    float v = 0.f;
#pragma unroll
    for (int k = 0; k < kKS; ++k) {
      const int w = dr * kKS + k;
      const float mk = mls[(w * 16 + r) * 2];
      if (mk != -INFINITY) v += red[(w * 16 + r) * kDW + dl] * exp2f(mk - M);
    }
    o_part[((base + static_cast<int64_t>(r) * kDecodeMaxParts) + p) * HD + dd] = v;
  }
  if (tid < G) {
    float M = -INFINITY, L = 0.f;
#pragma unroll
    for (int k = 0; k < kKS; ++k) M = fmaxf(M, mls[(k * 16 + tid) * 2]);
#pragma unroll
    for (int k = 0; k < kKS; ++k) {
      const float mk = mls[(k * 16 + tid) * 2];
      if (mk != -INFINITY) L += mls[(k * 16 + tid) * 2 + 1] * exp2f(mk - M);
    }
    float* ml = ml_part + ((base + static_cast<int64_t>(tid) * kDecodeMaxParts) + p) * 2;
    ml[0] = M == -INFINITY ? -INFINITY : M * kLn2;
    ml[1] = L;
  }
}

template <typename T, int HD>
void launch_t(const AttnParams& a, const DecodeRow* rows, dim3 grid, float* o_part, float* ml_part,
              cudaStream_t s) {
  // Above 48 KB dynamic shared memory needs an opt-in, once per instantiation.
  static const bool opted_in = [] {
    DI_CUDA_CHECK(cudaFuncSetAttribute(decode_mma_kernel<T, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(MmaCfg<HD>::kSmem)));
    return true;
  }();
  (void)opted_in;
  decode_mma_kernel<T, HD><<<grid, kMmaThreads, MmaCfg<HD>::kSmem, s>>>(a, rows, o_part, ml_part);
}

template <typename T>
bool launch_hd(const AttnParams& a, const DecodeRow* rows, dim3 grid, float* o_part, float* ml_part,
               cudaStream_t s) {
  switch (a.hd) {
    case 64: launch_t<T, 64>(a, rows, grid, o_part, ml_part, s); return true;
    case 128: launch_t<T, 128>(a, rows, grid, o_part, ml_part, s); return true;
    case 256: launch_t<T, 256>(a, rows, grid, o_part, ml_part, s); return true;
    default: return false;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

bool launch_attention_decode_mma(const AttnParams& a, const DecodeRow* rows, dim3 grid, float* o_part,
                                 float* ml_part, cudaStream_t s) {
  if (a.Hkv <= 0 || a.Hq % a.Hkv != 0) return false;
  const int G = a.Hq / a.Hkv;
  if (G < 1 || G > kMaxGroup) return false;
  // float4 q loads and 16-byte K/V copies: bases and q row strides must be 16-byte aligned.
  if (!aligned16(a.qkv) || a.nqkv % 4 != 0 || !aligned16(a.k_cache) || !aligned16(a.v_cache)) return false;
  bool ran = false;
  if (a.dt == Dt::kBF16) ran = launch_hd<__nv_bfloat16>(a, rows, grid, o_part, ml_part, s);
  else if (a.dt == Dt::kF16) ran = launch_hd<__half>(a, rows, grid, o_part, ml_part, s);
  if (ran) DI_CUDA_LAUNCH_CHECK("attention_decode_mma");
  return ran;
}

}  // namespace cuda
}  // namespace deepinfer
