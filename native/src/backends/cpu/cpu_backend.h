// The CPU backend: packed f32 weights, a paged f32 (or fp8, core/kv_fp8.h) KV cache, and a
// forward pass over a flattened batch, parallelised with a thread pool.
//
// Weight storage decision: every matrix is repacked once at load into 16-row panels of f32
// (kernels.h), converting f16/bf16 on the way. The packed layout is what makes the matmul
// fast and batch-invariant, so it is "the copy the backend needs"; the mmapped pages of a
// packed matrix are then released (madvise), so resident memory is the packed copy only.
// Norm weights and biases are converted into small f32 vectors; the embedding table is read
// in place from the mapping when it is f32 (one row per token), converted once otherwise.
// Cost of converting bf16 to f32: twice the weight memory and twice the bytes read per
// decoded token compared with a bf16 kernel; acceptable for the CPU backend, whose job is
// small models and CI; the CUDA backend keeps bf16.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/thread_pool.h"
#include "core/backend.h"

namespace deepinfer {
namespace cpu {

// 64-byte aligned array of a trivial type, uninitialised; move-only.
template <class T>
class AlignedArray {
 public:
  AlignedArray() = default;
  explicit AlignedArray(size_t n) : n_(n) {
    if (n == 0) return;
    void* p = nullptr;
    const size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    if (posix_memalign(&p, 64, bytes) != 0) throw std::bad_alloc();
    p_ = static_cast<T*>(p);
  }
  ~AlignedArray() { std::free(p_); }
  AlignedArray(AlignedArray&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  AlignedArray& operator=(AlignedArray&& o) noexcept {
    if (this != &o) {
      std::free(p_);
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  T* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};
using AlignedBuffer = AlignedArray<float>;

class CpuBackend : public Backend {
 public:
  // kv_cache_dtype: f32 (default) or fp8 (E4M3 with a power-of-two scale per token and kv
  // head, read in place by decode rows and dequantised into the attention's f32 scratch for
  // prefill rows, with the same results); other types are refused. The CUDA fields of `options` are not read.
  CpuBackend(int num_threads, const BackendOptions& options = BackendOptions());
  ~CpuBackend() override;

  const char* name() const override { return name_.c_str(); }
  void load_weights(const ModelConfig& cfg, const ModelWeights& w) override;
  int64_t weight_bytes() const override { return weight_bytes_; }
  void init_kv_cache(const KvCacheGeometry& g) override;
  void reserve(int32_t max_tokens, int32_t max_logit_rows) override;
  void forward(const ForwardBatch& b, float* logits) override;
  DType kv_cache_dtype() const override { return kv_fp8_ ? DType::kF8E4M3 : DType::kF32; }

  int num_threads() const { return pool_.size(); }
  // All packed matrices, including panel padding (embedding rows and norms are negligible).
  int64_t weight_bytes_per_step() const override { return packed_bytes_; }

 private:
  struct Layer {
    const float* attn_norm = nullptr;  // [D]
    PackedMatrix wqkv;                 // [Hq*hd + 2*Hkv*hd, D]: q rows, then k rows, then v rows
    const float* bqkv = nullptr;       // [Hq*hd + 2*Hkv*hd] or null
    const float* q_norm = nullptr;     // [hd] or null
    const float* k_norm = nullptr;     // [hd] or null
    PackedMatrix wo;                   // [D, Hq*hd]
    const float* mlp_norm = nullptr;   // [D]
    PackedMatrix wgu;                  // gate and up interleaved by panel: panel 2i = gate rows
                                       // [16i, 16i+16), panel 2i+1 = up rows (zero past I)
    PackedMatrix wdown;                // [D, I]
  };

  // One output row of a packed matrix: row `row` of `t`, or a zero row when t is null.
  using RowSrc = std::pair<const TensorView*, int>;
  PackedMatrix pack_rows(const std::vector<RowSrc>& rows, int K);
  // The same panels of E4M3 bytes with per-row scales (PackedMatrix::q8): every row source an
  // FP8 weight, or a zero row.
  PackedMatrix pack_rows_fp8(const std::vector<RowSrc>& rows, int K);
  // Element i of a weight matrix as the served dtype has it: rounded to options.dtype when that
  // is narrower than the stored type (f32 checkpoint served as bf16), exact otherwise.
  float served_elem(const TensorView& t, size_t i) const;
  PackedMatrix pack(const std::vector<const TensorView*>& parts);
  PackedMatrix pack_interleaved(const TensorView* a, const TensorView* b);
  // The forward pass of thread `tid` of `nth` (one pool run per step; phases separated by
  // barriers when nth > 1).
  void forward_thread(const ForwardBatch& b, float* logits, int tid, int nth);
  const float* vector_f32(const TensorView* t);
  // The tensors' elements as f32, concatenated; `served`: rounded like matrices (served_elem),
  // else exact (norms and biases stay f32 on every backend).
  const float* concat_f32(const std::vector<const TensorView*>& parts, bool served = false);
  void rmsnorm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, float* out);

  std::string name_;
  const KernelTable& k_;
  DType dtype_;  // the served weight type (BackendOptions::dtype)
  ThreadPool pool_;
  ModelConfig cfg_;
  std::vector<AlignedBuffer> owned_;  // packed matrices and converted vectors
  std::vector<std::vector<uint8_t>> owned_q8_;  // FP8 panels
  const ModelWeights* weights_ = nullptr;       // during load_weights only (FP8 scales)
  std::vector<Layer> layers_;         // [L]
  const float* embed_ = nullptr;      // [V, D] f32 (mmap in place or converted)
  const float* final_norm_ = nullptr; // [D]
  PackedMatrix lm_head_;              // [V, D]
  std::vector<double> inv_freq_;      // [hd/2] RoPE inverse frequencies, llama3-scaled if set
  std::vector<float> rope_table_;     // [max_pos][hd] cos | sin per position (empty: compute per step)
  bool fused_attention_ = false;      // head_dim % 16 == 0: qkv, RoPE and attention in one phase
  int64_t macs_per_token_ = 0;        // multiply-adds of the layers' matmuls per token
  int64_t weight_bytes_ = 0;
  int64_t packed_bytes_ = 0;

  KvCacheGeometry geo_;
  std::vector<AlignedBuffer> k_cache_;  // [L] each [num_blocks * block_size][Hkv][hd]
  std::vector<AlignedBuffer> v_cache_;  // [L] same
  // kv_cache_dtype fp8 instead (k_cache_/v_cache_ empty): E4M3 bytes [L][slots][Hkv][hd] and
  // one exponent per row [L][slots][Hkv] (core/kv_fp8.h).
  // The byte planes are 64-byte aligned, so with head_dim a multiple of 64 every row starts a
  // cache line (a decode row's in-place read touches one line per 64 bytes, not two).
  bool kv_fp8_ = false;
  std::vector<AlignedArray<uint8_t>> k8_, v8_;
  std::vector<std::vector<int8_t>> k8_exp_, v8_exp_;

  // Scratch, sized by reserve() for cap_tokens_ tokens / cap_rows_ logit rows.
  int32_t cap_tokens_ = 0;
  int32_t cap_rows_ = 0;
  AlignedBuffer x_;       // [T, D]   residual stream
  AlignedBuffer xn_;      // [T, D]   normed input of the current sub-layer (shared, large steps)
  AlignedBuffer xn_priv_; // [threads][kPrivateRows, D]: each thread's own normed rows (small steps)
  AlignedBuffer qkv_;     // [T, Hq*hd + 2*Hkv*hd]
  AlignedBuffer attn_;    // [T, Hq*hd]
  AlignedBuffer gu_;      // [T, 2 * 16 * ceil(I/16)]  gate|up panel pairs
  AlignedBuffer h_;       // [T, I]
  AlignedBuffer rope_;    // [T, hd]: cos in [0, hd/2), sin in [hd/2, hd)
  AlignedBuffer xr_;      // [R, D]   final-normed rows whose logits are wanted (large R)
  AlignedBuffer att_tmp_; // [threads, block_size + hd + 16] per-thread attention scratch
  AlignedBuffer kv_deq_;  // fp8 K/V: [threads][2][kv_deq_keys_][hd] dequantised rows of one
                          // (sequence, kv head) per thread
  int kv_deq_keys_ = 0;
  // Steps with at most this many rows let every thread normalise all rows itself (no
  // barrier before the next matmul); larger steps split the rows and synchronise.
  static constexpr int kPrivateRows = 64;
  // Steps below this many multiply-adds run on the calling thread alone (no fork-join, no
  // barriers): ~20-40 us of single-core work, where 4 barriers per layer would dominate.
  // DEEPINFER_DEV_CPU_SERIAL_MACS overrides it (a developer knob: tests set 0 to run every
  // step multi-threaded).
  static constexpr int64_t kSerialMacs = 2'000'000;
  int64_t serial_macs_ = kSerialMacs;
};

}  // namespace cpu
}  // namespace deepinfer
