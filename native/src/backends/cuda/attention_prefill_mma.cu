// Paged causal attention for prefill chunks on tensor cores: FlashAttention-2 forward with
// warp-level mma.sync (m16n8k16, f16/bf16 inputs, f32 accumulators). Block = (tile of up to
// 64 consecutive rows of one sequence, query head h), 4 warps of 16 rows; one block per (tile,
// head). The tile's q rows (f32) are scaled by 1/sqrt(hd) and rounded to the cache type; K/V
// tiles of kBK keys come through the block table with 16-byte cp.async, one slot per key row
// (a key tile spans several cache blocks). Per key tile a warp computes S = Q K^T (16 x kBK),
// masks, updates its rows' running max / sum (f32, exp2), rounds P to the cache type and adds
// P V into its 16 x hd f32 accumulators; the output is divided by the row sum at the end.
//
// Pipeline (FA2's, no double buffer): the V tile loads while S = Q K^T runs, the next K tile
// while the softmax and P V run; the two barriers per key tile separate them.
//
// Invariance (chunked prefill == whole prefill, bit for bit per row): key tiles start at key 0
// and advance by kBK whatever pos0 / n_rows are; masking is by absolute index (key > the row's
// position); keys past the tile's last position are zero-filled, never read. A key tile past
// a row's own position leaves that row's state exactly as it was (max unchanged, correction
// exp2(0) = 1, p = 0, 0 * V = 0), so rows are unaffected by how many further tiles their tile
// needs. Rows i >= n_rows take the last row's position (finite, never written); warps with no
// row < n_rows skip all arithmetic, as do warps whose rows all precede a key tile.
#include "backends/cuda/attention_prefill_mma.h"
#include "backends/cuda/mma_primitives.cuh"

#include <cstdint>
#include <type_traits>

namespace deepinfer {
namespace cuda {

namespace {

constexpr int kThreads = 128;    // 4 warps x 16 rows
constexpr int kBQ = 64;          // rows of a tile (kPrefillTileRows)
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kBQ == kPrefillTileRows, "a block covers one PrefillTile");

// Shared-memory layout of one instantiation: row offsets of two key tiles, then K [kBK][kLd],
// V [kBK][kLd] and (hd 256 only) Q [kBQ][kLd] in the cache type. Up to hd 128 a warp keeps its
// Q fragments in registers (loaded once; no Q re-reads from shared memory per key tile) and Q
// passes through the V buffer before the first V copy: hd 128 takes 35,840 bytes, two blocks
// per SM even on sm_89 / sm_120 (100 KB per SM). At hd 256 the fragments would not fit beside
// the 128 f32 accumulators, so Q stays in shared memory and key tiles are 32 keys (68,096 bytes).
// kLd pads each row by 16 bytes so the 8 rows an ldmatrix phase reads start 4 banks apart
// (conflict-free for every head_dim % 16 == 0).
template <int HD>
struct Cfg {
  static constexpr bool kQInRegs = HD <= 128;
  static constexpr int kBK = kQInRegs ? 64 : 32;  // keys per tile
  static constexpr int kLd = HD + 8;
  static constexpr size_t kOffBytes = 2 * kBK * sizeof(int64_t);
  static constexpr size_t kSmem = kOffBytes + sizeof(uint16_t) * ((kQInRegs ? 0 : kBQ) + 2 * kBK) * kLd;
  static_assert(!kQInRegs || kBK == kBQ, "Q fits the V buffer");
};


// kBK rows of the K or V cache into dst [kBK][kLd]; offs[j] = element offset of key j's head
// row, -1 past the last key (zero-filled). Consecutive threads take consecutive 16-byte chunks
// of a row, so each row is one coalesced read.
template <typename T, int HD>
__device__ __forceinline__ void load_kv_tile(T* dst, const T* src, const int64_t* offs, int tid) {
  constexpr int kCpr = HD / 8;  // 16-byte chunks per row
  constexpr int kBK = Cfg<HD>::kBK, kLd = Cfg<HD>::kLd;
  static_assert(kBK * kCpr % kThreads == 0, "whole copies per thread");
#pragma unroll
  for (int i = 0; i < kBK * kCpr / kThreads; ++i) {
    const int idx = tid + i * kThreads, j = idx / kCpr, c = (idx % kCpr) * 8;
    const int64_t off = offs[j];
    cp_async16(dst + j * kLd + c, off < 0 ? src : src + off + c, off < 0 ? 0 : 16);
  }
  cp_async_commit();
}

template <typename T, int HD>
__global__ void __launch_bounds__(kThreads)
    prefill_mma_kernel(AttnParams a, const PrefillTile* __restrict__ tiles, int n_tiles) {
  constexpr bool kQInRegs = Cfg<HD>::kQInRegs;
  constexpr int kBK = Cfg<HD>::kBK, kLd = Cfg<HD>::kLd;
  constexpr int kNT = kBK / 8;  // n-tiles (8 keys) of S
  constexpr int kDT = HD / 8;   // n-tiles (8 dims) of O
  extern __shared__ __align__(16) unsigned char smem[];
  int64_t* offs = reinterpret_cast<int64_t*>(smem);  // [2][kBK], by key tile parity
  T* Ks = reinterpret_cast<T*>(smem + Cfg<HD>::kOffBytes);
  T* Vs = Ks + kBK * kLd;
  T* Qs = kQInRegs ? Vs : Vs + kBK * kLd;

  // Heads vary fastest and tiles go last-first: within a sequence the tiles with the most key
  // tiles start first and the short ones fill in behind them (scheduling only; no result
  // depends on the order).
  const int h = blockIdx.x % a.Hq;
  const PrefillTile tile = tiles[n_tiles - 1 - static_cast<int>(blockIdx.x / a.Hq)];
  const int kh = h / (a.Hq / a.Hkv), bs = a.block_size;
  const int n_keys = tile.pos0 + tile.n_rows;  // keys [0, n_keys) for the whole tile
  const int n_kt = (n_keys + kBK - 1) / kBK;
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int* bt = a.block_tables + tile.bt_offset;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;

  // Cache offset of key `key`'s head row (-1 past n_keys: zero-filled, the block table has no
  // entry there). One thread per key; the table is written a key tile ahead of its use.
  auto key_offset = [&](int key) -> int64_t {
    if (key >= n_keys) return -1;
    const int64_t slot = static_cast<int64_t>(bt[key / bs]) * bs + key % bs;
    return (slot * a.Hkv + kh) * HD;
  };
  if (tid < kBK) offs[tid] = key_offset(tid);
  __syncthreads();
  load_kv_tile<T, HD>(Ks, kc, offs, tid);

  // Q tile, overlapping the first K copy: rows >= n_rows are zero (their output is never
  // written; zero q keeps them finite).
  for (int idx = tid; idx < kBQ * HD / 4; idx += kThreads) {
    const int r = idx / (HD / 4), c = (idx % (HD / 4)) * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r < tile.n_rows) {
      v = *reinterpret_cast<const float4*>(a.qkv + static_cast<int64_t>(tile.row0 + r) * a.nqkv +
                                           static_cast<int64_t>(h) * HD + c);
    }
    *reinterpret_cast<uint2*>(Qs + r * kLd + c) =
        make_uint2(pack2<T>(v.x * a.scale, v.y * a.scale), pack2<T>(v.z * a.scale, v.w * a.scale));
  }

  // This lane holds rows r0 + g ([0] below) and r0 + g + 8 ([1]) of the tile: 4 lanes (t4) per
  // row, each with 2 adjacent columns of every 8-column n-tile.
  const int r0 = warp * 16;

  // A operand of S = Q K^T for dims 16kk..16kk+15: matrices (rows 0-7 | 8-15) x (dims 0-7 |
  // 8-15) in a0..a3 order, so lane l addresses row r0 + l % 16, dim half l / 16.
  const T* q_frag = Qs + (r0 + (lane & 15)) * kLd + (lane >> 4) * 8;
  uint32_t qf[kQInRegs ? HD / 16 : 1][4];
  if constexpr (kQInRegs) {
    __syncthreads();  // Q stored; the loop's first barrier orders these reads before the V copy
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) ldmatrix_x4(qf[kk], q_frag + kk * 16);
  }
  const bool warp_active = r0 < tile.n_rows;
  const int pos[2] = {min(tile.pos0 + r0 + g, n_keys - 1), min(tile.pos0 + r0 + g + 8, n_keys - 1)};
  const int warp_first_pos = tile.pos0 + r0;
  const int warp_last_pos = min(tile.pos0 + r0 + 15, n_keys - 1);

  float o[kDT][4];
#pragma unroll
  for (int d = 0; d < kDT; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY};  // running max of the raw scores
  float l[2] = {0.f, 0.f};              // this lane's part of the running sum

  for (int kt = 0; kt < n_kt; ++kt) {
    const int k0 = kt * kBK;
    cp_async_wait_all();
    // K tile kt (and Q) visible; every warp is done with V tile kt - 1 (at kt = 0: with the Q
    // it read out of the V buffer).
    __syncthreads();
    load_kv_tile<T, HD>(Vs, vc, offs + (kt & 1) * kBK, tid);
    // offs[(kt + 1) & 1] was last read by the V copy of tile kt - 1, issued before the barrier.
    if (kt + 1 < n_kt && tid < kBK) offs[((kt + 1) & 1) * kBK + tid] = key_offset(k0 + kBK + tid);

    // Warp-uniform: tiles past all of the warp's positions change nothing for its rows.
    const bool compute = warp_active && k0 <= warp_last_pos;
    float s[kNT][4];
    if (compute) {
#pragma unroll
      for (int n = 0; n < kNT; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < HD / 16; ++kk) {
        uint32_t qa[4];
        if constexpr (kQInRegs) {
#pragma unroll
          for (int i = 0; i < 4; ++i) qa[i] = qf[kk][i];
        } else {
          ldmatrix_x4(qa, q_frag + kk * 16);
        }
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          // B = K^T: column n of B is key n's row, contiguous in smem, so K loads without
          // .trans. Matrices: keys 0-7 dims 0-7 (b0 of n-tile 2np), keys 0-7 dims 8-15 (b1),
          // keys 8-15 dims 0-7 (b0 of 2np+1), keys 8-15 dims 8-15 (b1).
          uint32_t kb[4];
          ldmatrix_x4(kb, Ks + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * kLd + kk * 16 + ((lane >> 3) & 1) * 8);
          mma16816<T>(s[2 * np], qa, kb[0], kb[1]);
          mma16816<T>(s[2 * np + 1], qa, kb[2], kb[3]);
        }
      }
      // Causal mask by absolute key index; also covers keys >= n_keys (zero-filled rows),
      // which lie past every row's (clamped) position.
      if (k0 + kBK - 1 > warp_first_pos) {
#pragma unroll
        for (int n = 0; n < kNT; ++n) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = k0 + n * 8 + 2 * t4 + (e & 1);
            if (key > pos[e >> 1]) s[n][e] = -INFINITY;
          }
        }
      }
    }

    cp_async_wait_all();
    __syncthreads();  // V tile kt visible; every warp is done with K tile kt
    if (kt + 1 < n_kt) load_kv_tile<T, HD>(Ks, kc, offs + ((kt + 1) & 1) * kBK, tid);

    if (compute) {
      // Online softmax. The 4 lanes of a row hold its 2 * kNT columns: reduce over them with
      // xor 1, 2. Key 0 of tile 0 is unmasked for every row, so m is finite from then on and
      // m_old = -inf only gives corr = exp2(-inf) = 0.
      float mx[2] = {m[0], m[1]};
#pragma unroll
      for (int n = 0; n < kNT; ++n) {
        mx[0] = fmaxf(mx[0], fmaxf(s[n][0], s[n][1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[n][2], s[n][3]));
      }
      float corr[2], mlog[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
        corr[i] = exp2f((m[i] - mx[i]) * kLog2e);
        m[i] = mx[i];
        mlog[i] = mx[i] * kLog2e;
        l[i] *= corr[i];
      }
#pragma unroll
      for (int n = 0; n < kNT; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[n][e] = exp2f(fmaf(s[n][e], kLog2e, -mlog[e >> 1]));
          l[e >> 1] += s[n][e];
        }
      }
#pragma unroll
      for (int d = 0; d < kDT; ++d) {
        o[d][0] *= corr[0];
        o[d][1] *= corr[0];
        o[d][2] *= corr[1];
        o[d][3] *= corr[1];
      }
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) {
        // The accumulator layout of S n-tiles 2kk and 2kk+1 is the A layout of P's keys
        // 16kk..16kk+15: (g, 2t) of n-tile 2kk is a0, (g+8, 2t) a1, those of 2kk+1 a2, a3.
        const uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int dp = 0; dp < HD / 16; ++dp) {
          // B = V (keys x dims) with a column (dim) per lane group: V rows are keys, so load
          // with .trans. Matrices: keys 0-7 dims 0-7 (b0 of dim n-tile 2dp), keys 8-15 dims
          // 0-7 (b1), keys 0-7 dims 8-15 (b0 of 2dp+1), keys 8-15 dims 8-15 (b1).
          uint32_t vb[4];
          ldmatrix_x4_trans(vb, Vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kLd + dp * 16 + (lane >> 4) * 8);
          mma16816<T>(o[2 * dp], pa, vb[0], vb[1]);
          mma16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
        }
      }
    }
  }

  if (!warp_active) return;
  T* out = static_cast<T*>(a.out) + static_cast<int64_t>(h) * HD + 2 * t4;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = r0 + g + 8 * i;
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    if (r >= tile.n_rows) continue;
    const float inv = 1.f / l[i];
    T* orow = out + static_cast<int64_t>(tile.row0 + r) * a.Hq * HD;
#pragma unroll
    for (int d = 0; d < kDT; ++d) {
      *reinterpret_cast<uint32_t*>(orow + d * 8) = pack2<T>(o[d][2 * i] * inv, o[d][2 * i + 1] * inv);
    }
  }
}

template <typename T, int HD>
void launch_t(const AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s) {
  // Above 48 KB dynamic shared memory needs an opt-in, once per instantiation (thread-safe
  // static initialisation).
  static const bool opted_in = [] {
    DI_CUDA_CHECK(cudaFuncSetAttribute(prefill_mma_kernel<T, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(Cfg<HD>::kSmem)));
    return true;
  }();
  (void)opted_in;
  prefill_mma_kernel<T, HD>
      <<<static_cast<unsigned>(n_tiles) * a.Hq, kThreads, Cfg<HD>::kSmem, s>>>(a, tiles, n_tiles);
}

template <typename T>
bool launch_hd(const AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s) {
  switch (a.hd) {
    case 16: launch_t<T, 16>(a, tiles, n_tiles, s); return true;
    case 32: launch_t<T, 32>(a, tiles, n_tiles, s); return true;
    case 64: launch_t<T, 64>(a, tiles, n_tiles, s); return true;
    case 128: launch_t<T, 128>(a, tiles, n_tiles, s); return true;
    case 256: launch_t<T, 256>(a, tiles, n_tiles, s); return true;
    default: return false;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool launch_attention_prefill_mma(const AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s) {
  // float4 q loads and 16-byte K/V copies: bases and q row strides must be 16-byte aligned.
  if (!aligned16(a.qkv) || a.nqkv % 4 != 0 || !aligned16(a.k_cache) || !aligned16(a.v_cache)) return false;
  bool ran = false;
  if (a.dt == Dt::kBF16) ran = launch_hd<__nv_bfloat16>(a, tiles, n_tiles, s);
  else if (a.dt == Dt::kF16) ran = launch_hd<__half>(a, tiles, n_tiles, s);
  if (ran) DI_CUDA_LAUNCH_CHECK("attention_prefill_mma");
  return ran;
}

}  // namespace cuda
}  // namespace deepinfer
