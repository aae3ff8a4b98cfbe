// Host launchers of the CUDA backend's kernels, one concept per .cu file. All work on the
// backend's stream; none allocates or synchronises. Activations: the residual stream and GEMM
// outputs are f32; GEMM inputs (normed activations, attention output, MLP hidden) and the K/V
// cache are in the model's storage type `dt` (f32 / f16 / bf16); arithmetic is f32.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backends/cuda/cuda_common.cuh"
#include "backends/cuda/step_plan.h"

namespace deepinfer {
namespace cuda {

// embedding.cu: x[t] = f32(table[tokens[t]]), table [V, D] of type dt.
void launch_embedding(const int32_t* tokens, int T, const void* table, Dt dt, int D, float* x, cudaStream_t s);

// rmsnorm.cu: for each of n rows r (rows[i] when rows != nullptr, else i):
//   if delta: x[r] += delta[r] (the fused residual add; written back to x)
//   out[i] = dt(x[r] * rsqrt(mean(x[r]^2) + eps) * w)
void launch_add_rmsnorm(float* x, const float* delta, const int32_t* rows, int n, int D, const float* w, float eps,
                        void* out, Dt out_dt, cudaStream_t s);

// rope.cu: per row of qkv [T, (Hq + 2 Hkv) * hd] (f32, in place): + bias (Qwen2), per-head
// RMSNorm of q and k heads (Qwen3), then rotate-half RoPE of q and k heads at positions[t]
// with inv_freq [hd/2] (double, llama3-scaled on the host), angles and cos/sin in double.
void launch_qkv_rope(float* qkv, int T, const int32_t* positions, const double* inv_freq, int Hq, int Hkv, int hd,
                     const float* bias, const float* q_norm, const float* k_norm, float eps, cudaStream_t s);

// kv_write.cu: K and V rows of every token (from qkv) into their cache slots; cache layout
// [slots][Hkv][hd] of type dt. Rows with slot -1 (graph padding) are skipped.
void launch_kv_write(const float* qkv, int T, int nqkv, int k_off, int kvd, const int64_t* slots, void* k_cache,
                     void* v_cache, Dt dt, cudaStream_t s);

// silu_mul.cu: h[t] = dt(silu(gu[t][0:I]) * gu[t][I:2I]).
void launch_silu_mul(const float* gu, int T, int I, void* h, Dt dt, cudaStream_t s);

struct AttnParams {
  const float* qkv;       // [T, nqkv]; q of head h at h * hd
  int nqkv;
  int Hq, Hkv, hd, block_size;
  float scale;            // 1 / sqrt(hd)
  const void* k_cache;    // [slots][Hkv][hd]
  const void* v_cache;
  Dt dt;                  // cache and output type
  const int32_t* block_tables;
  void* out;              // [T, Hq * hd] of type dt
};

// Attention kernel variants. All variants of a kind compute the same function; tests
// (test_cuda_attention) check each against a double-precision reference, and the backend picks
// one at start (settings cuda_prefill_attn=fma|mma, cuda_decode_attn=warp|tiled|mma; mma for
// both by default, the fastest on an H200) so the benchmark can compare them on one card.
enum class PrefillAttn : int {
  kFma = 0,  // CUDA-core FMA, any head_dim <= 256, any type
  kMma = 1,  // tensor cores (mma.sync); f16/bf16 with head_dim 16/32/64/128/256, else runs kFma
};
enum class DecodeAttn : int {
  kWarpPerKey = 0,  // a warp per key, K/V read from global memory
  kTiled = 1,       // K/V chunks staged in shared memory
  kMma = 2,         // tensor cores (mma.sync); f16/bf16, G <= 16, head_dim 64/128/256, else runs kTiled
};

// attention_decode.cu: split-K flash decoding for rows of one-token sequences: partial
// softmax over each partition (o_part [n][Hq][kDecodeMaxParts][hd], ml_part [..][2]), then a
// combine kernel writes out.
void launch_attention_decode(const AttnParams& a, const DecodeRow* rows, int n_rows, int max_parts, float* o_part,
                             float* ml_part, DecodeAttn kind, cudaStream_t s);
// attention_prefill.cu: causal flash attention for tiles of prefill rows, reading all earlier
// context through the block table (K/V of this step's rows were written first).
void launch_attention_prefill(const AttnParams& a, const PrefillTile* tiles, int n_tiles, PrefillAttn kind,
                              cudaStream_t s);

// gemm.cu: C[M, N] (row stride ldc, f32) (+)= A[M, K] (dt) * W[N, K]^T (dt).
class Gemm {
 public:
  // mode (the cuda_gemm setting): "auto" tries cuBLAS (dlopen, `cublas_path` first) and falls
  // back to the built-in tiled kernel, `note` saying why; "cublas" throws when cuBLAS cannot be
  // used; "fallback" never loads it.
  void init(cudaStream_t s, const std::string& mode, const std::string& cublas_path);
  ~Gemm();
  void run(const void* A, const void* W, Dt dt, float* C, int M, int N, int K, int ldc, bool accumulate,
           cudaStream_t s) const;
  bool using_cublas() const { return handle_ != nullptr; }
  const char* note() const { return note_.c_str(); }
  // Forces the fallback kernel (tests; the cuda_gemm=fallback setting at start).
  void force_fallback();

 private:
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;
  void* handle_ = nullptr;
  void* workspace_ = nullptr;  // cuBLAS workspace (device), owned
  std::string note_;
};
void launch_gemm_fallback(const void* A, const void* W, Dt dt, float* C, int M, int N, int K, int ldc,
                          bool accumulate, cudaStream_t s);

// fp8.cu (issue 17): FP8 KV cache and FP8 weights, reachable from test_cuda_fp8 only until
// gpu-check.sh has validated them on a GPU (the backend refuses both meanwhile).
// fp8 K/V: E4M3 bytes [slots][Hkv][hd] and one exponent per (slot, head) [slots][Hkv]: x ~=
// e4m3(byte) * 2^e, e the smallest with amax * 2^-e <= 448 (core/kv_fp8.h, bit-identical).
struct Fp8AttnParams {
  const float* qkv;  // [T, nqkv]; q of head h at h * hd
  int nqkv;
  int Hq, Hkv, hd, block_size;
  float scale;
  const uint8_t* k8;
  const uint8_t* v8;
  const int8_t* k_exp;
  const int8_t* v_exp;
  const int32_t* block_tables;
  Dt dt;      // output type
  void* out;  // [T, Hq * hd]
};
void launch_kv_write_fp8(const float* qkv, int T, int nqkv, int k_off, int Hkv, int hd, const int64_t* slots,
                         uint8_t* k8, uint8_t* v8, int8_t* k_exp, int8_t* v_exp, cudaStream_t s);
void launch_attention_decode_fp8(const Fp8AttnParams& a, const DecodeRow* rows, int n_rows, cudaStream_t s);
void launch_attention_prefill_fp8(const Fp8AttnParams& a, const PrefillTile* tiles, int n_tiles, cudaStream_t s);
// C[M, N] (+)= A[M, K] (dt) * W^T, W[n][k] = e4m3(W8[n * K + k]) * scales[n * ceil(K / kblock) + k / kblock]
// (per-tensor and per-channel scales: kblock = K, one scale per row).
void launch_gemv_fp8(const void* A, Dt dt, const uint8_t* W, const float* scales, int kblock, float* C, int M, int N,
                     int K, int ldc, bool accumulate, cudaStream_t s);

// sampling.cu
struct SampleParamsDev {
  float temperature, top_p, min_p, presence, frequency, repetition;
  int32_t top_k, num_logprobs;
  double uniform;
  int32_t bias_off, bias_n;      // into ids / bias_values
  int32_t prompt_off, prompt_n;  // into ids
  int32_t output_off, output_n;  // into ids
  int32_t counts_row;            // row of the counts scratch, -1 = no penalties
  int32_t mask_off;              // guided decoding: allowed-token bitmask at ids + mask_off
                                 // ([ceil(V / 32)] words, as uint32), -1 = none
};
struct SampleOutDev {
  int32_t token_id;
  float logprob;
  int32_t rank;
  int32_t num_top;
  int32_t top_ids[20];
  float top_logprobs[20];
};
// One block per row r: sample from logits[r] ([R, V] f32, device). work [R, V] f32 scratch;
// counts [*, V] int32 scratch, all zero (left zero) — used by rows with counts_row >= 0.
void launch_sample(const float* logits, int R, int V, const SampleParamsDev* params, const int32_t* ids,
                   const float* bias_values, float* work, int32_t* counts, SampleOutDev* out, cudaStream_t s);


}  // namespace cuda
}  // namespace deepinfer
