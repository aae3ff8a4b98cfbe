// Sampling on the GPU, one block per sampling row, with the host sampler's semantics
// (core/sampling.h, vLLM v1): raw log-softmax for logprobs; the guided-decoding mask (-inf
// outside it); logit_bias; repetition /
// frequency / presence penalties (each distinct context token once); greedy (lowest id on
// ties); else temperature, softmax, min_p, top_k, top_p and an inverse-CDF draw with the
// uniform the engine computed (seeded_uniform(seed, position) or the engine RNG), walking
// candidates in id order when neither top_k nor top_p is set and in (probability desc, id asc)
// order otherwise - exactly the host's orders. Sorting is replaced by radix selection on the
// 64-bit key (float bits of p) << 32 | ~id, which orders like the host's comparator; the
// selections carry probability mass per bucket, so top_p and the draw find the same element a
// sorted cumulative walk finds. Sums are in double, in a different association than the
// host's sequential sums: results agree except when a draw lands within ~1e-12 of a CDF
// boundary. Only SampleOutDev (ids, logprobs) crosses to the host.
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kFlag = 1 << 30;  // "in prompt or output" bit of the counts scratch

struct Shared {
  int cnt[256];
  double mass[256];
  double scan[kThreads];
  double dred[32];
  float fred[32];
  int ired[32];
  int choice;
  int found;
  int last;
  int best_id[32];
  float best_v[32];
};

__device__ __forceinline__ bool better(float v, int id, float bv, int bid) {
  return v > bv || (v == bv && id < bid);
}

// Block-wide arg-max of v over ids with lowest id on ties; every thread gets (value, id).
__device__ void block_argmax(float v, int id, Shared& sh, float* out_v, int* out_id) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oid = __shfl_xor_sync(0xffffffffu, id, o);
    if (better(ov, oid, v, id)) {
      v = ov;
      id = oid;
    }
  }
  __syncthreads();
  if (lane == 0) {
    sh.best_v[warp] = v;
    sh.best_id[warp] = id;
  }
  __syncthreads();
  v = sh.best_v[lane];
  id = sh.best_id[lane];
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oid = __shfl_xor_sync(0xffffffffu, id, o);
    if (better(ov, oid, v, id)) {
      v = ov;
      id = oid;
    }
  }
  *out_v = v;
  *out_id = id;
}

__device__ __forceinline__ uint64_t key_of(const float* p, int i, float min_keep) {
  const float v = p[i];
  if (!(v > 0.f && v >= min_keep)) return 0;
  return (static_cast<uint64_t>(__float_as_uint(v)) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - static_cast<uint32_t>(i));
}

// Radix selection over the candidates with key >= lo, walking keys from the largest:
//  count mode: the k-th largest key;
//  mass mode:  the first key at which the cumulative probability reaches `target`
//              (>= target, or > target when strict); when rounding leaves it unreached, the
//              smallest key (the host's "last candidate").
__device__ uint64_t radix_select(const float* p, int V, float min_keep, uint64_t lo, bool mass_mode, double target,
                                 bool strict, int k, Shared& sh) {
  uint64_t prefix = 0, mask = 0;
  double rem = target;
  int remk = k;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kThreads) {
      sh.cnt[b] = 0;
      sh.mass[b] = 0.0;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < V; i += kThreads) {
      const uint64_t key = key_of(p, i, min_keep);
      if (key == 0 || key < lo || (key & mask) != prefix) continue;
      const int b = static_cast<int>((key >> shift) & 255u);
      atomicAdd(&sh.cnt[b], 1);
      if (mass_mode) atomicAdd(&sh.mass[b], static_cast<double>(p[i]));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int chosen = -1, lowest = 0;
      for (int b = 255; b >= 0; --b) {
        if (sh.cnt[b] == 0) continue;
        lowest = b;
        if (mass_mode) {
          if (strict ? sh.mass[b] > rem : sh.mass[b] >= rem) {
            chosen = b;
            break;
          }
          rem -= sh.mass[b];
        } else {
          if (sh.cnt[b] >= remk) {
            chosen = b;
            break;
          }
          remk -= sh.cnt[b];
        }
      }
      if (chosen < 0) chosen = lowest;
      sh.choice = chosen;
    }
    __syncthreads();
    prefix |= static_cast<uint64_t>(sh.choice) << shift;
    mask |= static_cast<uint64_t>(0xFFu) << shift;
    __syncthreads();
  }
  return prefix;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* __restrict__ logits, int V,
                                                          const SampleParamsDev* __restrict__ params,
                                                          const int32_t* __restrict__ ids,
                                                          const float* __restrict__ bias_values,
                                                          float* __restrict__ work, int32_t* __restrict__ counts,
                                                          SampleOutDev* __restrict__ outs) {
  __shared__ Shared sh;
  const int r = blockIdx.x;
  const SampleParamsDev P = params[r];
  const float* raw = logits + static_cast<int64_t>(r) * V;
  float* w = work + static_cast<int64_t>(r) * V;
  const int tid = threadIdx.x;

  // 1. Raw log-softmax normaliser.
  double lse = 0.0;
  if (P.num_logprobs >= 0) {
    float mx = -INFINITY;
    for (int i = tid; i < V; i += kThreads) mx = fmaxf(mx, raw[i]);
    mx = block_max(mx, sh.fred);
    double s = 0.0;
    for (int i = tid; i < V; i += kThreads) s += exp(static_cast<double>(raw[i]) - mx);
    s = block_sum(s, sh.dred);
    lse = mx + log(s);
  }
  // 2. Copy (guided decoding: tokens outside the allowed mask get -inf), logit bias (serially:
  // duplicate ids add in list order, as on the host).
  if (P.mask_off >= 0) {
    const uint32_t* m = reinterpret_cast<const uint32_t*>(ids + P.mask_off);
    for (int i = tid; i < V; i += kThreads) w[i] = ((m[i >> 5] >> (i & 31)) & 1u) != 0 ? raw[i] : -INFINITY;
  } else {
    for (int i = tid; i < V; i += kThreads) w[i] = raw[i];
  }
  __syncthreads();
  if (tid == 0) {
    for (int b = 0; b < P.bias_n; ++b) w[ids[P.bias_off + b]] += bias_values[P.bias_off + b];
  }
  __syncthreads();
  // 3. Penalties: counts of output tokens plus an in-context flag, consumed (and zeroed) by
  // the first thread that meets each distinct id.
  if (P.counts_row >= 0) {
    int32_t* cnt = counts + static_cast<int64_t>(P.counts_row) * V;
    for (int i = tid; i < P.output_n; i += kThreads) {
      const int id = ids[P.output_off + i];
      atomicAdd(&cnt[id], 1);
      atomicOr(&cnt[id], kFlag);
    }
    for (int i = tid; i < P.prompt_n; i += kThreads) atomicOr(&cnt[ids[P.prompt_off + i]], kFlag);
    __syncthreads();
    const int n_ctx = P.prompt_n + P.output_n;
    for (int i = tid; i < n_ctx; i += kThreads) {
      const int id = i < P.prompt_n ? ids[P.prompt_off + i] : ids[P.output_off + (i - P.prompt_n)];
      const int v = atomicExch(&cnt[id], 0);
      if (v == 0) continue;
      const int c = v & (kFlag - 1);
      float x = w[id];
      if (P.repetition != 1.f) x = x > 0.f ? x / P.repetition : x * P.repetition;
      x -= P.frequency * static_cast<float>(c);
      x -= P.presence * (c > 0 ? 1.f : 0.f);
      w[id] = x;
    }
    __syncthreads();
  }

  int token = 0;
  if (P.temperature < 1e-5f) {
    // 4. Greedy.
    float bv = -INFINITY;
    int bid = 0x7fffffff;
    for (int i = tid; i < V; i += kThreads) {
      if (better(w[i], i, bv, bid)) {
        bv = w[i];
        bid = i;
      }
    }
    float v;
    block_argmax(bv, bid, sh, &v, &token);
  } else {
    // 5. Temperature, softmax (unnormalised, max 1), min_p, top_k, top_p, draw.
    const float inv_t = 1.f / P.temperature;
    float mx = -INFINITY;
    for (int i = tid; i < V; i += kThreads) {
      const float v = w[i] * inv_t;
      w[i] = v;
      mx = fmaxf(mx, v);
    }
    mx = block_max(mx, sh.fred);
    for (int i = tid; i < V; i += kThreads) w[i] = expf(w[i] - mx);
    __syncthreads();
    const float min_keep = P.min_p > 0.f ? P.min_p : 0.f;
    if (P.top_k <= 0 && P.top_p >= 1.f) {
      // Candidates in id order: contiguous segments per thread, exclusive scan of their sums.
      const int seg = (V + kThreads - 1) / kThreads;
      const int b0 = tid * seg, e0 = min(V, b0 + seg);
      double local = 0.0;
      int last = -1;
      for (int i = b0; i < e0; ++i) {
        const float v = w[i];
        if (v > 0.f && v >= min_keep) {
          local += v;
          last = i;
        }
      }
      sh.scan[tid] = local;
      if (tid == 0) {
        sh.found = 0x7fffffff;
        sh.last = -1;
      }
      __syncthreads();
      if (last >= 0) atomicMax(&sh.last, last);
      if (tid == 0) {
        double c = 0.0;
        for (int t = 0; t < kThreads; ++t) {
          const double x = sh.scan[t];
          sh.scan[t] = c;
          c += x;
        }
        sh.dred[0] = c;
      }
      __syncthreads();
      const double target = P.uniform * sh.dred[0];
      double c = sh.scan[tid];
      if (c + local > target) {
        for (int i = b0; i < e0; ++i) {
          const float v = w[i];
          if (!(v > 0.f && v >= min_keep)) continue;
          c += v;
          if (c > target) {
            atomicMin(&sh.found, i);
            break;
          }
        }
      }
      __syncthreads();
      token = sh.found != 0x7fffffff ? sh.found : (sh.last >= 0 ? sh.last : 0);
    } else {
      uint64_t lo = 1;
      int n_cand = 0;
      for (int i = tid; i < V; i += kThreads) n_cand += key_of(w, i, min_keep) != 0 ? 1 : 0;
      n_cand = block_sum(n_cand, sh.ired);
      if (P.top_k > 0 && P.top_k < n_cand) lo = radix_select(w, V, min_keep, 1, false, 0.0, false, P.top_k, sh);
      double total = 0.0;
      for (int i = tid; i < V; i += kThreads) {
        const uint64_t key = key_of(w, i, min_keep);
        if (key != 0 && key >= lo) total += w[i];
      }
      total = block_sum(total, sh.dred);
      if (P.top_p < 1.f) {
        lo = radix_select(w, V, min_keep, lo, true, static_cast<double>(P.top_p) * total, false, 0, sh);
        total = 0.0;
        for (int i = tid; i < V; i += kThreads) {
          const uint64_t key = key_of(w, i, min_keep);
          if (key != 0 && key >= lo) total += w[i];
        }
        total = block_sum(total, sh.dred);
      }
      const uint64_t k = radix_select(w, V, min_keep, lo, true, P.uniform * total, true, 0, sh);
      token = static_cast<int>(0xFFFFFFFFu - static_cast<uint32_t>(k & 0xFFFFFFFFu));
    }
  }

  // 6. Logprobs of the raw distribution.
  SampleOutDev* o = outs + r;
  if (P.num_logprobs >= 0) {
    const float tv = raw[token];
    int above = 0;
    for (int i = tid; i < V; i += kThreads) above += raw[i] > tv ? 1 : 0;
    above = block_sum(above, sh.ired);
    const int N = min(P.num_logprobs, V);
    float pv = INFINITY;
    int pid = -1;
    for (int n = 0; n < N; ++n) {
      float bv = -INFINITY;
      int bid = 0x7fffffff;
      for (int i = tid; i < V; i += kThreads) {
        const float v = raw[i];
        const bool allowed = v < pv || (v == pv && i > pid);
        if (allowed && better(v, i, bv, bid)) {
          bv = v;
          bid = i;
        }
      }
      block_argmax(bv, bid, sh, &pv, &pid);
      if (tid == 0) {
        o->top_ids[n] = pid;
        o->top_logprobs[n] = static_cast<float>(static_cast<double>(pv) - lse);
      }
    }
    if (tid == 0) {
      o->logprob = static_cast<float>(static_cast<double>(tv) - lse);
      o->rank = above + 1;
      o->num_top = N > 0 ? N : 0;
    }
  } else if (tid == 0) {
    o->logprob = 0.f;
    o->rank = 0;
    o->num_top = 0;
  }
  if (tid == 0) o->token_id = token;
}

}  // namespace

void launch_sample(const float* logits, int R, int V, const SampleParamsDev* params, const int32_t* ids,
                   const float* bias_values, float* work, int32_t* counts, SampleOutDev* out, cudaStream_t s) {
  if (R == 0) return;
  sample_kernel<<<R, kThreads, 0, s>>>(logits, V, params, ids, bias_values, work, counts, out);
  DI_CUDA_LAUNCH_CHECK("sample");
}

}  // namespace cuda
}  // namespace deepinfer
