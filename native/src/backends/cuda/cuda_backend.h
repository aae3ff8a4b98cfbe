// The CUDA backend: weights in the checkpoint's type on the device (bf16/f16/f32), f32
// residual stream, GEMMs through cuBLAS (dlopen) or a fallback kernel, paged K/V in the
// weights' type, custom kernels for the rest (kernels.h), sampling on the device.
// FP8 weights (E4M3 + scales, fp8.cu GEMV) and the fp8 KV cache (core/kv_fp8.h) are built but
// refused until validated on a GPU (fp8_validated() in cuda_backend.cu).
// Plain cudaMalloc only (no managed memory); one stream; forward passes never allocate device
// memory except the penalty-count scratch on the first step that uses penalties.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/graph_plan.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/step_observer.h"
#include "backends/cuda/step_plan.h"
#include "core/backend.h"

namespace deepinfer {
namespace cuda {

class CudaBackend : public Backend {
 public:
  // Kernel choices, GEMM mode and dtypes from `options`; a choice it cannot honour (a KV dtype
  // other than the served one, cuda_gemm=cublas without cuBLAS) fails before weights load.
  CudaBackend(int device, const BackendOptions& options);
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
  const char* device_name() const override { return device_name_.c_str(); }
  void load_weights(const ModelConfig& cfg, const ModelWeights& w) override;
  // Weights of `cfg`'s shape in type `dt` (the layers' matrices in FP8 with per-row scales when
  // fp8_matrices), filled on the device by `src` (the benchmark's random weights; no files).
  // Allocation and accounting as load_weights.
  void load_device_weights(const ModelConfig& cfg, Dt dt, DeviceWeightSource& src, bool fp8_matrices = false);
  int64_t weight_bytes() const override { return weight_bytes_; }
  int64_t weight_bytes_per_step() const override { return matrix_bytes_; }
  // K/V are stored in the served type (the attention kernels read the activations' type), or
  // fp8 (E4M3 + a power-of-two exponent per (slot, kv head)) when asked for and enabled.
  DType kv_cache_dtype() const override;
  void init_kv_cache(const KvCacheGeometry& g) override;
  void reserve(int32_t max_tokens, int32_t max_logit_rows) override;
  int32_t plan_kv_blocks(const KvCacheGeometry& one_block, int32_t max_tokens, int32_t max_logit_rows,
                         double gpu_memory_utilization) override;
  void forward(const ForwardBatch& b, float* logits) override;
  bool samples_on_device() const override { return true; }
  // Launches the forward pass, calls before_sampling while it runs, then uploads the rows'
  // parameters and masks and samples after it on the same stream (core/backend.h).
  double forward_sample(const ForwardBatch& b, const SampleRow* rows, di_seq_output* outs, float* logits,
                        BeforeSampling* before_sampling) override;
  DeviceMemoryInfo memory_info() const override;
  std::string details() const override;
  int32_t cuda_graphs_captured() const override { return static_cast<int32_t>(graphs_.size()); }

  const char* gemm_note() const { return gemm_.note(); }
  void zero_kv() { DI_CUDA_CHECK(cudaMemsetAsync(kv_base_, 0, static_cast<size_t>(kv_bytes_), stream_)); }
  const Gemm& gemm() const { return gemm_; }
  void force_fallback_gemm() {
    drop_graphs();
    gemm_.force_fallback();
  }
  // CUDA graphs for decode steps (on by default; the cuda_graphs setting turns them off; the
  // attention kernels are chosen by the cuda_*_attn settings at construction, see kernels.h).
  // details() says which are in use, and why graphs are off if a capture failed.
  void set_cuda_graphs(bool on) {
    drop_graphs();
    graphs_enabled_ = on;
  }
  bool cuda_graphs() const { return graphs_enabled_; }
  // Per-phase observer of the steps (benchmarks; null = none, the production case). Steps
  // run eagerly while one is set.
  void set_step_observer(StepObserver* o) { observer_ = o; }
  cudaStream_t stream() const { return stream_; }
  Dt dtype() const { return dt_; }

 private:
  // A weight matrix [N, K]: dt_ elements, or E4M3 bytes with one f32 scale per (row, run of
  // kblock columns) when scales is set (FP8 checkpoints).
  struct Matrix {
    void* w = nullptr;
    float* scales = nullptr;  // [N][ceil(K / kblock)] or null
    int kblock = 0;
  };
  struct Layer {
    float* attn_norm = nullptr;
    Matrix wqkv;            // [Hq*hd + 2*Hkv*hd, D]
    float* bqkv = nullptr;  // or null
    float* q_norm = nullptr;
    float* k_norm = nullptr;
    Matrix wo;              // [D, Hq*hd]
    float* mlp_norm = nullptr;
    Matrix wgu;             // [2I, D]
    Matrix wdown;           // [D, I]
  };
  // C (+)= A W^T through the GEMM (dt_ weights) or the FP8 GEMV.
  void matmul(const void* A, const Matrix& W, float* C, int M, int N, int K, int ldc, bool accumulate);

  void* dev_alloc(size_t bytes, bool weight);
  void dev_free(void* p);
  Matrix upload_matrix(const std::vector<const TensorView*>& parts);
  Matrix upload_matrix_fp8(const std::vector<const TensorView*>& parts);
  float* upload_vector(const std::vector<const TensorView*>& parts);
  void mark(const char* phase) {
    if (observer_ != nullptr) observer_->mark(phase, stream_);
  }
  void setup_common();
  // Device-side view of one step's metadata and sizes: what the kernels of a step read.
  struct StepView {
    int T = 0, R = 0, n_dec = 0, n_pre = 0, max_parts = 0;
    const int32_t* tokens = nullptr;
    const int32_t* positions = nullptr;
    const int32_t* logit_rows = nullptr;
    const int32_t* block_tables = nullptr;
    const int64_t* slots = nullptr;
    const DecodeRow* decode_rows = nullptr;
    const PrefillTile* prefill_tiles = nullptr;
  };
  // Runs the model on b; the logits of its logit rows are left in d_logits_ (device).
  void run(const ForwardBatch& b);
  // Runs plan_ as a replay of its bucket's CUDA graph (captured on first use) when eligible;
  // false: run it eagerly.
  bool run_as_graph(int num_logit_rows);
  // Every kernel of one step, in order; no host synchronisation, no allocation (capturable).
  void enqueue_forward(const StepView& v);
  void drop_graphs();
  void free_kv();

  int device_ = 0;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  Gemm gemm_;
  // Set in the constructor from BackendOptions (cuda_prefill_attn / _decode_attn / _graphs).
  PrefillAttn prefill_attn_;
  DecodeAttn decode_attn_;
  StepObserver* observer_ = nullptr;
  ModelConfig cfg_;
  Dt dt_ = Dt::kF32;
  std::vector<void*> weight_allocs_;
  std::vector<Layer> layers_;
  void* embed_ = nullptr;
  Matrix lm_head_;
  const ModelWeights* weights_ = nullptr;  // during load_weights only (FP8 scales)
  float* final_norm_ = nullptr;
  double* inv_freq_ = nullptr;
  int64_t weight_bytes_ = 0;
  int64_t matrix_bytes_ = 0;

  KvCacheGeometry geo_;
  void* kv_base_ = nullptr;
  std::vector<void*> k_cache_, v_cache_;
  bool kv_fp8_ = false;                     // kv_cache_dtype fp8: k/v_cache_ hold E4M3 bytes
  std::vector<int8_t*> k_exp_, v_exp_;      // and these the exponents [slots][Hkv]
  int64_t kv_bytes_ = 0;

  // Scratch.
  int32_t cap_tokens_ = 0, cap_rows_ = 0;
  float* x_ = nullptr;      // [T, D]
  void* xn_ = nullptr;      // [T, D] dt
  float* qkv_ = nullptr;    // [T, nqkv]
  void* attn_ = nullptr;    // [T, Hq*hd] dt
  float* gu_ = nullptr;     // [T, 2I]
  void* h_ = nullptr;       // [T, I] dt
  void* xr_ = nullptr;      // [R, D] dt
  float* d_logits_ = nullptr;  // [R, V]
  float* d_work_ = nullptr;    // [R, V] sampling scratch
  float* o_part_ = nullptr;    // decode partials
  float* ml_part_ = nullptr;
  int32_t* d_counts_ = nullptr;  // [count_rows_, V], zero between uses
  int32_t count_rows_ = 0;
  SampleOutDev* d_sample_out_ = nullptr;
  SampleOutDev* h_sample_out_ = nullptr;  // pinned
  // Per-step metadata: a pinned host buffer mirrored on the device, one copy per use.
  struct Mirror {
    char* h = nullptr;
    char* d = nullptr;
    size_t cap = 0;
  };
  void ensure_mirror(Mirror* m, size_t bytes);
  void free_mirror(Mirror* m);
  Mirror meta_;    // step plan
  Mirror smeta_;   // sampling parameters
  StepPlan plan_;
  // CUDA graphs of decode steps, by bucket. Valid while the buffers they captured stay put:
  // drop_graphs() runs whenever weights, scratch or the KV cache are reallocated.
  bool graphs_enabled_;
  std::string graphs_note_;
  std::map<int, cudaGraphExec_t> graphs_;
  GraphPlanLayout graph_layout_;
  Mirror gmeta_;  // graph-step metadata, fixed addresses (graph_plan.h)
  // forward_sample's measure of the device's wait for its before_sampling hook: timing events
  // recorded on stream_ after the forward pass and when the hook has returned.
  cudaEvent_t forward_done_ = nullptr;
  cudaEvent_t rows_ready_ = nullptr;
};

}  // namespace cuda
}  // namespace deepinfer
