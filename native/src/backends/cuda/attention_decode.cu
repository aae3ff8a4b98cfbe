// Paged attention for decode rows, flash-decoding style (split-K): block (partition p, KV head
// kh, row r) attends the group of Hq/Hkv query heads of kh to keys [p * part_len, ...) of the
// row's context, read through its block table in chunks with an online softmax; the partial
// (unnormalised output, max, sum) goes to o_part / ml_part, and a second kernel combines the
// partitions. One K/V read serves the whole GQA group. Partitioning depends only on the row's
// own context length (step_plan.h), so the result of a row does not depend on the batch around
// it. Three partial kernels compute the same function (DecodeAttn):
//   kWarpPerKey  decode_partial_kernel: a warp per key with shuffle reductions, K/V read from
//                global memory.
//   kTiled       decode_tiled_kernel: K/V chunks staged in shared memory with cp.async (double
//                buffered), whole dot products per thread, no per-key shuffles.
//   kMma         decode_mma_kernel (attention_decode_mma.cu): tensor cores; shapes it does not
//                take run kTiled, then the warp-per-key kernel.
#include "backends/cuda/kernels.h"

#include "backends/cuda/attention_decode_mma.h"

#include <algorithm>
#include <cstring>

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

// kTiled: decode_tiled_kernel, kThreads (128) threads per block. Per chunk of C keys (64 when
// K + V of two chunks fit kStageBudget, else 32, 16, 8: 32 for hd 128 with 16-bit K/V):
//   load    cp.async of the next chunk's K and V rows ([slot][Hkv][hd] -> [stage][K|V][C][stride])
//           in 16-byte pieces (4-byte pieces when a row is not a multiple of 16 bytes or the cache
//           is not 16-byte aligned) while this chunk is computed; rows past the partition are
//           zero-filled, so every later loop runs over all C keys without tails.
//   scores  thread (key pair kp, kp + C/2; dim slice ds of kThreads / (C/2)): dot products of its
//           two K rows with all G query heads over its slice (q in shared memory, f32, scaled),
//           into s [slice][G][C]; two keys per thread halve the broadcast reads of q.
//   softmax warp per head: score = sum of the slices (fixed order), online update of m / l, P
//           over slice 0 of s, alpha = exp(m_old - m_new) (0 while m_old = -inf).
//   P.V     thread (dim pair dp, head group, key phase): acc = acc * alpha + P V for its heads
//           over its phase's C / phases keys; V pair and P (float4 over 4 keys) from shared.
// At the end the key phases are summed through shared memory (aliasing the stages) into o_part.
// All sums run in a fixed order, so the result is a function of the row alone. 128 threads
// rather than 256: the score role needs C / 2 * slices = 128 threads for every C, and small
// blocks (~42 KB at hd 128) let five of them share an H100/H200 SM, overlapping each other's
// barriers. Shapes it does not take (launch_tiled) run the warp-per-key kernel.
constexpr int kWarps = kThreads / 32;
constexpr int kMaxChunk = 64;            // softmax: two keys per lane
constexpr int kMinChunk = 8;             // P.V: at least one float4 of keys per phase
constexpr int kStageBudget = 48 * 1024;  // K + V of both stages
constexpr int kQkHeads = 8;              // query heads per pass of the score loop
constexpr int kPvHeads = 8;              // heads (accumulator pairs) per P.V thread
constexpr int kDefaultSmem = 48 * 1024;  // above it the kernel opts in
// Blocks per SM the registers must allow (<= 96 per thread): hd 128 with 16-bit K/V takes
// ~42 KB of shared memory, five blocks fill an H100/H200 SM (228 KB), and ptxas would otherwise
// spend ~124 registers and fit only four.
constexpr int kTiledMinBlocks = 5;

// Geometry of decode_tiled_kernel for one (G, hd, element size, piece size), computed on the
// host and passed by value, so host and device agree on the shared-memory layout.
struct TiledGeom {
  int chunk;       // C: keys per chunk, a power of two in [kMinChunk, kMaxChunk]
  int pieces;      // vector pieces of one K/V row
  int stride;      // bytes between staged rows: an odd number of pieces, so that consecutive
                   // rows start in different banks (score loads are row-strided)
  int ld_pieces;   // load: consecutive threads take consecutive pieces of a row (<= kThreads)
  int ld_rows;     // load: rows per pass, kThreads / ld_pieces
  int qk_slices;   // scores: dim slices, kThreads / (C / 2)
  int qk_sstride;  // scores: floats between slices of s, G * C padded so that the slices one
                   // warp writes (32 / (C / 2) of them) fall in different banks
  int pv_pairs;    // P.V: dim pairs, hd / 2
  int pv_heads;    // P.V: heads per group (<= kPvHeads)
  int pv_groups;   // P.V: head groups
  int pv_phases;   // P.V: key phases, a power of two <= C / 4
  int off_slot;    // int64 [2][C]: slots of the chunks in flight
  int off_q;       // f32 [G][hd]: q * scale
  int off_s;       // f32 [qk_slices][qk_sstride]: partial scores [G][C]; slice 0 then holds P
  int off_ml;      // f32 [3][G]: m, l, alpha
  int smem;        // bytes in all; offset 0: the stages, later the phase sums [phases][G][hd]
};

inline int round16(int b) { return (b + 15) / 16 * 16; }

TiledGeom tiled_geom(int G, int hd, int elem_bytes, int vec) {
  TiledGeom t{};
  t.pieces = hd * elem_bytes / vec;
  t.stride = (t.pieces | 1) * vec;
  t.chunk = kMaxChunk;
  while (t.chunk > kMinChunk && 4 * t.chunk * t.stride > kStageBudget) t.chunk /= 2;
  t.ld_pieces = std::min(t.pieces, kThreads);
  t.ld_rows = kThreads / t.ld_pieces;
  t.qk_slices = kThreads / (t.chunk / 2);
  t.qk_sstride = (G * t.chunk + 31) / 32 * 32 + (t.chunk / 2) % 32;
  t.pv_pairs = hd / 2;
  const int groups = (G + kPvHeads - 1) / kPvHeads;
  t.pv_heads = (G + groups - 1) / groups;
  t.pv_groups = (G + t.pv_heads - 1) / t.pv_heads;
  t.pv_phases = 1;
  while (2 * t.pv_phases * t.pv_pairs * t.pv_groups <= kThreads && 2 * t.pv_phases <= t.chunk / 4) t.pv_phases *= 2;
  const int stages = 4 * t.chunk * t.stride;
  const int sums = t.pv_phases * G * hd * 4;
  t.off_slot = round16(std::max(stages, sums));
  t.off_q = t.off_slot + 2 * t.chunk * 8;
  t.off_s = t.off_q + round16(G * hd * 4);
  t.off_ml = t.off_s + t.qk_slices * t.qk_sstride * 4;
  t.smem = t.off_ml + 3 * G * 4;
  return t;
}

// cp.async of kBytes (16 or 4) with zero fill: src_bytes = 0 writes zeros and reads nothing.
template <int kBytes>
__device__ __forceinline__ void cp_async(void* dst, const void* src, int src_bytes) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  if constexpr (kBytes == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
  }
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Elements of a 32-bit word of the cache type, as f32.
__device__ __forceinline__ void unpack_word(uint32_t w, float* f, float) { f[0] = __uint_as_float(w); }
__device__ __forceinline__ void unpack_word(uint32_t w, float* f, __half) {
  __half2 h;
  memcpy(&h, &w, 4);
  const float2 v = __half22float2(h);
  f[0] = v.x;
  f[1] = v.y;
}
__device__ __forceinline__ void unpack_word(uint32_t w, float* f, __nv_bfloat16) {
  f[0] = __uint_as_float(w << 16);  // element 0 is the low half
  f[1] = __uint_as_float(w & 0xffff0000u);
}

// One staged piece (kVec bytes) of a K row as f32.
template <typename T, int kVec>
__device__ __forceinline__ void load_piece(const unsigned char* p, float (&f)[kVec / sizeof(T)]) {
  constexpr int kPerWord = 4 / sizeof(T);
  uint32_t w[kVec / 4];
  if constexpr (kVec == 16) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    w[0] = u.x;
    w[1] = u.y;
    w[2] = u.z;
    w[3] = u.w;
  } else {
    w[0] = *reinterpret_cast<const uint32_t*>(p);
  }
#pragma unroll
  for (int i = 0; i < kVec / 4; ++i) unpack_word(w[i], f + i * kPerWord, T());
}

// kN consecutive floats of shared memory (kN * 4-byte aligned when kN is 2 or a multiple of 4).
template <int kN>
__device__ __forceinline__ void load_f32(const float* p, float (&f)[kN]) {
  if constexpr (kN % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kN; i += 4) {
      const float4 v = *reinterpret_cast<const float4*>(p + i);
      f[i] = v.x;
      f[i + 1] = v.y;
      f[i + 2] = v.z;
      f[i + 3] = v.w;
    }
  } else if constexpr (kN == 2) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    f[0] = v.x;
    f[1] = v.y;
  } else {
    f[0] = p[0];
  }
}

// Elements 2 dp and 2 dp + 1 of a staged V row. f32 rows staged in 4-byte pieces have an odd
// word stride, so their pairs are not 8-byte aligned.
template <typename T, int kVec>
__device__ __forceinline__ void load_pair(const unsigned char* p, float (&f)[2]) {
  if constexpr (sizeof(T) == 2) {
    unpack_word(*reinterpret_cast<const uint32_t*>(p), f, T());
  } else if constexpr (kVec == 16) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    f[0] = v.x;
    f[1] = v.y;
  } else {
    f[0] = reinterpret_cast<const float*>(p)[0];
    f[1] = reinterpret_cast<const float*>(p)[1];
  }
}

template <typename T, int kVec>
__global__ void __launch_bounds__(kThreads, kTiledMinBlocks)
    decode_tiled_kernel(AttnParams a, const DecodeRow* __restrict__ rows, float* __restrict__ o_part,
                        float* __restrict__ ml_part, TiledGeom t) {
  constexpr int kEp = kVec / sizeof(T);  // elements per piece
  const DecodeRow d = rows[blockIdx.z];
  const int p = blockIdx.x;
  if (p >= d.num_parts) return;
  const int kh = blockIdx.y;
  const int hd = a.hd, G = a.Hq / a.Hkv, Gh = G * hd;
  const int bs = a.block_size;
  const int C = t.chunk, stride = t.stride;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char* stage = smem_raw;  // [2][K, V][C][stride]
  int64_t* slot_s = reinterpret_cast<int64_t*>(smem_raw + t.off_slot);
  float* q_s = reinterpret_cast<float*>(smem_raw + t.off_q);
  float* s_s = reinterpret_cast<float*>(smem_raw + t.off_s);
  float* m_s = reinterpret_cast<float*>(smem_raw + t.off_ml);
  float* l_s = m_s + G;
  float* al_s = l_s + G;
  const int* bt = a.block_tables + d.bt_offset;
  const int64_t slot_bytes = static_cast<int64_t>(a.Hkv) * hd * sizeof(T);
  const unsigned char* kc = static_cast<const unsigned char*>(a.k_cache) + static_cast<int64_t>(kh) * hd * sizeof(T);
  const unsigned char* vc = static_cast<const unsigned char*>(a.v_cache) + static_cast<int64_t>(kh) * hd * sizeof(T);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int k_begin = p * d.part_len;
  const int k_end = min(d.n_keys, k_begin + d.part_len);
  const int n_chunks = k_end > k_begin ? (k_end - k_begin + C - 1) / C : 0;
  auto slot_of = [&](int key) { return static_cast<int64_t>(bt[key / bs]) * bs + key % bs; };

  // Slots of chunks 0 and 1 (slot_s[stage][j], stage = chunk & 1), q, running stats.
  for (int j = tid; j < 2 * C; j += kThreads) {
    if (k_begin + j < k_end) slot_s[j] = slot_of(k_begin + j);
  }
  const float* q = a.qkv + static_cast<int64_t>(d.row) * a.nqkv + static_cast<int64_t>(kh) * Gh;
  for (int i = tid; i < Gh; i += kThreads) q_s[i] = q[i] * a.scale;
  for (int g = tid; g < G; g += kThreads) {
    m_s[g] = -INFINITY;
    l_s[g] = 0.f;
  }
  __syncthreads();

  // Load role: pieces ld_pc + k * ld_pieces of rows ld_j + k * ld_rows.
  const int ld_j = tid / t.ld_pieces, ld_pc = tid - ld_j * t.ld_pieces;
  const bool ld_active = ld_j < t.ld_rows;
  auto issue = [&](int c) {
    const int st = c & 1;
    const int n = min(C, k_end - (k_begin + c * C));
    unsigned char* ks = stage + st * 2 * C * stride;
    unsigned char* vs = ks + C * stride;
    if (!ld_active) return;
    for (int j = ld_j; j < C; j += t.ld_rows) {
      const bool valid = j < n;
      const int64_t off = valid ? slot_s[st * C + j] * slot_bytes : 0;
      const int bytes = valid ? kVec : 0;
      for (int pc = ld_pc; pc < t.pieces; pc += t.ld_pieces) {
        cp_async<kVec>(ks + j * stride + pc * kVec, kc + off + pc * kVec, bytes);
        cp_async<kVec>(vs + j * stride + pc * kVec, vc + off + pc * kVec, bytes);
      }
    }
  };

  // Score role: keys kp and kp + C/2, pieces [pc_begin, pc_end) (slices may be empty).
  const int n_kp = C / 2;
  const int kp = tid % n_kp, ds = tid / n_kp;
  const int pc_begin = ds * t.pieces / t.qk_slices, pc_end = (ds + 1) * t.pieces / t.qk_slices;

  // P.V role: dim pair dp, heads [g_lo, g_lo + n_heads), keys [j_lo, j_lo + C / phases).
  const int dp = tid % t.pv_pairs, pv_slot = tid / t.pv_pairs;
  const int hg = pv_slot % t.pv_groups, phase = pv_slot / t.pv_groups;
  const bool pv_active = phase < t.pv_phases;
  const int g_lo = hg * t.pv_heads;
  const int n_heads = min(t.pv_heads, G - g_lo);
  const int phase_keys = C / t.pv_phases;
  const int j_lo = phase * phase_keys;
  float acc[kPvHeads][2];
#pragma unroll
  for (int i = 0; i < kPvHeads; ++i) acc[i][0] = acc[i][1] = 0.f;

  if (n_chunks > 0) issue(0);
  cp_async_commit();
  for (int c = 0; c < n_chunks; ++c) {
    // Chunk c + 1 goes to the other stage, last read by the P.V of chunk c - 1 (barrier at the
    // end of the previous iteration). A group is committed even when empty, so that waiting for
    // all but the newest group always means chunk c has landed.
    if (c + 1 < n_chunks) issue(c + 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const int st = c & 1;
    const int n = min(C, k_end - (k_begin + c * C));
    const unsigned char* ks = stage + st * 2 * C * stride;
    const unsigned char* vs = ks + C * stride;

    // Scores.
    {
      const unsigned char* k0 = ks + kp * stride;
      const unsigned char* k1 = ks + (kp + n_kp) * stride;
      for (int g0 = 0; g0 < G; g0 += kQkHeads) {
        float s0[kQkHeads], s1[kQkHeads];
#pragma unroll
        for (int i = 0; i < kQkHeads; ++i) s0[i] = s1[i] = 0.f;
        for (int pc = pc_begin; pc < pc_end; ++pc) {
          float kv0[kEp], kv1[kEp];
          load_piece<T, kVec>(k0 + pc * kVec, kv0);
          load_piece<T, kVec>(k1 + pc * kVec, kv1);
#pragma unroll
          for (int i = 0; i < kQkHeads; ++i) {
            if (g0 + i < G) {
              float qv[kEp];
              load_f32<kEp>(q_s + (g0 + i) * hd + pc * kEp, qv);
#pragma unroll
              for (int e = 0; e < kEp; ++e) {
                s0[i] = fmaf(qv[e], kv0[e], s0[i]);
                s1[i] = fmaf(qv[e], kv1[e], s1[i]);
              }
            }
          }
        }
#pragma unroll
        for (int i = 0; i < kQkHeads; ++i) {
          if (g0 + i < G) {
            float* sg = s_s + ds * t.qk_sstride + (g0 + i) * C;
            sg[kp] = s0[i];
            sg[kp + n_kp] = s1[i];
          }
        }
      }
    }
    // Slots of chunk c + 2 into this chunk's slot stage: its loads were issued before the
    // barrier above, and the next read (issue(c + 2)) follows the barrier below.
    if (c + 2 < n_chunks) {
      for (int j = tid; j < C; j += kThreads) {
        const int key = k_begin + (c + 2) * C + j;
        if (key < k_end) slot_s[st * C + j] = slot_of(key);
      }
    }
    __syncthreads();

    // Online softmax, a warp per head; keys j = lane, lane + 32.
    for (int g = warp; g < G; g += kWarps) {
      float sc[kMaxChunk / 32];
      float mx = -INFINITY;
#pragma unroll
      for (int u = 0; u < kMaxChunk / 32; ++u) {
        const int j = lane + 32 * u;
        float s = -INFINITY;
        if (j < n) {
          s = 0.f;
          for (int sl = 0; sl < t.qk_slices; ++sl) s += s_s[sl * t.qk_sstride + g * C + j];
        }
        sc[u] = s;
        mx = fmaxf(mx, s);
      }
      mx = warp_max(mx);
      const float m_old = m_s[g];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.f;
#pragma unroll
      for (int u = 0; u < kMaxChunk / 32; ++u) {
        const int j = lane + 32 * u;
        if (j < C) {
          const float pj = j < n ? expf(sc[u] - m_new) : 0.f;
          s_s[g * C + j] = pj;
          sum += pj;
        }
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

    // acc = acc * alpha + P V. Rows j >= n are zeros and their P is 0.
    if (pv_active) {
#pragma unroll
      for (int i = 0; i < kPvHeads; ++i) {
        if (i < n_heads) {
          const float al = al_s[g_lo + i];
          acc[i][0] *= al;
          acc[i][1] *= al;
        }
      }
      const unsigned char* vp = vs + dp * 2 * sizeof(T);
      for (int jb = j_lo; jb < j_lo + phase_keys; jb += 4) {
        float v[4][2];
#pragma unroll
        for (int u = 0; u < 4; ++u) load_pair<T, kVec>(vp + (jb + u) * stride, v[u]);
#pragma unroll
        for (int i = 0; i < kPvHeads; ++i) {
          if (i < n_heads) {
            const float4 pj = *reinterpret_cast<const float4*>(s_s + (g_lo + i) * C + jb);
            acc[i][0] = fmaf(pj.x, v[0][0], acc[i][0]);
            acc[i][1] = fmaf(pj.x, v[0][1], acc[i][1]);
            acc[i][0] = fmaf(pj.y, v[1][0], acc[i][0]);
            acc[i][1] = fmaf(pj.y, v[1][1], acc[i][1]);
            acc[i][0] = fmaf(pj.z, v[2][0], acc[i][0]);
            acc[i][1] = fmaf(pj.z, v[2][1], acc[i][1]);
            acc[i][0] = fmaf(pj.w, v[3][0], acc[i][0]);
            acc[i][1] = fmaf(pj.w, v[3][1], acc[i][1]);
          }
        }
      }
    }
    __syncthreads();
  }
  // Only empty groups can be pending here; drain them before the stages are reused.
  cp_async_wait<0>();

  // Sum the key phases through shared memory: red [phases][G][hd].
  float* red = reinterpret_cast<float*>(stage);
  if (pv_active) {
#pragma unroll
    for (int i = 0; i < kPvHeads; ++i) {
      if (i < n_heads) {
        float* o = red + (phase * G + g_lo + i) * hd + 2 * dp;
        o[0] = acc[i][0];
        o[1] = acc[i][1];
      }
    }
  }
  __syncthreads();
  const int64_t base = (static_cast<int64_t>(blockIdx.z) * a.Hq + static_cast<int64_t>(kh) * G) * kDecodeMaxParts;
  for (int idx = tid; idx < Gh; idx += kThreads) {
    float v = 0.f;
    for (int ph = 0; ph < t.pv_phases; ++ph) v += red[ph * Gh + idx];
    const int g = idx / hd, dd = idx - g * hd;
    o_part[((base + static_cast<int64_t>(g) * kDecodeMaxParts) + p) * hd + dd] = v;
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

// Launches decode_tiled_kernel; false (nothing launched) for shapes it does not take: P.V needs
// hd / 2 * ceil(G / kPvHeads) <= kThreads threads (G * hd <= 2048 for a power-of-two hd), and
// the shared memory must fit the device. Those run the warp-per-key kernel.
template <typename T>
bool launch_tiled(const AttnParams& a, const DecodeRow* rows, dim3 grid, float* o_part, float* ml_part,
                  cudaStream_t s) {
  const int G = a.Hq / a.Hkv;
  const int row_bytes = a.hd * static_cast<int>(sizeof(T));
  const bool vec16 =
      row_bytes % 16 == 0 &&
      ((reinterpret_cast<uintptr_t>(a.k_cache) | reinterpret_cast<uintptr_t>(a.v_cache)) & 15) == 0;
  const TiledGeom t = tiled_geom(G, a.hd, static_cast<int>(sizeof(T)), vec16 ? 16 : 4);
  if (t.pv_pairs * t.pv_groups > kThreads) return false;
  auto* kernel = vec16 ? decode_tiled_kernel<T, 16> : decode_tiled_kernel<T, 4>;
  if (t.smem > kDefaultSmem) {
    int dev = 0, optin = 0;
    DI_CUDA_CHECK(cudaGetDevice(&dev));
    DI_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (t.smem > optin) return false;
    DI_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, t.smem));
  }
  kernel<<<grid, kThreads, t.smem, s>>>(a, rows, o_part, ml_part, t);
  DI_CUDA_LAUNCH_CHECK("attention_decode_tiled");
  return true;
}

}  // namespace

void launch_attention_decode(const AttnParams& a, const DecodeRow* rows, int n_rows, int max_parts, float* o_part,
                             float* ml_part, DecodeAttn kind, cudaStream_t s) {
  if (n_rows == 0) return;
  const int G = a.Hq / a.Hkv;
  const size_t smem = sizeof(float) * (static_cast<size_t>(G) * a.hd + static_cast<size_t>(G) * kDecodeChunk + 3 * G +
                                       (G & 1)) +
                      sizeof(int64_t) * kDecodeChunk;
  const dim3 grid(max_parts, a.Hkv, n_rows);
  DI_DISPATCH_DT(a.dt, E, {
    const bool ran_mma = kind == DecodeAttn::kMma && launch_attention_decode_mma(a, rows, grid, o_part, ml_part, s);
    if (!ran_mma && (kind == DecodeAttn::kWarpPerKey || !launch_tiled<E>(a, rows, grid, o_part, ml_part, s))) {
      decode_partial_kernel<E><<<grid, kThreads, smem, s>>>(a, rows, o_part, ml_part);
      DI_CUDA_LAUNCH_CHECK("attention_decode_partial");
    }
    const int threads = ((a.hd + 31) / 32) * 32;
    decode_combine_kernel<E><<<dim3(n_rows, a.Hq), threads, 0, s>>>(a, rows, o_part, ml_part);
    DI_CUDA_LAUNCH_CHECK("attention_decode_combine");
  });
}

}  // namespace cuda
}  // namespace deepinfer
