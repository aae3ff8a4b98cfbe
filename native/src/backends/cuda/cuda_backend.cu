#include "backends/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "backends/cuda/cuda_api.h"
#include "core/rope_freq.h"
#include "core/tensor_elem.h"
#include "core/safetensors.h"

namespace deepinfer {
namespace cuda {

namespace {

Dt dt_of(DType t) { return t == DType::kF32 ? Dt::kF32 : t == DType::kF16 ? Dt::kF16 : Dt::kBF16; }


size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// FP8 weights and the fp8 KV cache run on fp8.cu's kernels, which no GPU has validated yet:
// refused unless DEEPINFER_DEV_CUDA_FP8=1 (a developer knob: test_cuda's fp8 cases set it).
// Once native/scripts/gpu-check.sh passes test_cuda_fp8 and test_cuda's fp8 cases on a GPU,
// lift the refusal by making this return true.
bool fp8_validated() {
  const char* v = std::getenv("DEEPINFER_DEV_CUDA_FP8");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace

CudaBackend::CudaBackend(int device, const BackendOptions& options) : device_(device) {
  // Choices first, so a bad value fails creation before anything is allocated. Each list
  // follows its enum's values (kernels.h); the defaults are the fastest on an H200.
  prefill_attn_ = static_cast<PrefillAttn>(choice_index(options.cuda_prefill_attn, {"fma", "mma"}, "cuda_prefill_attn"));
  decode_attn_ = static_cast<DecodeAttn>(choice_index(options.cuda_decode_attn, {"warp", "tiled", "mma"}, "cuda_decode_attn"));
  choice_index(options.cuda_gemm, {"auto", "cublas", "fallback"}, "cuda_gemm");
  graphs_enabled_ = options.cuda_graphs;
  dt_ = dt_of(options.dtype);
  kv_fp8_ = options.kv_cache_dtype == DType::kF8E4M3;
  if (kv_fp8_ && !fp8_validated()) {
    throw Error("config.kv_cache_dtype: \"fp8\" is not supported by the cuda backend yet: its kernels (fp8.cu) are "
                "not validated on a GPU yet; the cpu backend runs it (device cpu)");
  }
  if (options.kv_cache_dtype.has_value() && !kv_fp8_ && *options.kv_cache_dtype != options.dtype) {
    throw Error(std::string("config.kv_cache_dtype: \"") + dtype_setting_name(*options.kv_cache_dtype) +
                "\" is not supported by the cuda backend with dtype " + dtype_setting_name(options.dtype) +
                " (its KV cache uses the served dtype); use auto or " + dtype_setting_name(options.dtype));
  }
  DI_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop;
  DI_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  device_name_ = prop.name;
  DI_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  gemm_.init(stream_, options.cuda_gemm, options.cublas_path);
  DI_CUDA_CHECK(cudaEventCreate(&forward_done_));
  DI_CUDA_CHECK(cudaEventCreate(&rows_ready_));
}

DType CudaBackend::kv_cache_dtype() const {
  if (kv_fp8_) return DType::kF8E4M3;
  return dt_ == Dt::kF32 ? DType::kF32 : dt_ == Dt::kF16 ? DType::kF16 : DType::kBF16;
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  drop_graphs();
  free_kv();
  for (void* p : weight_allocs_) cudaFree(p);
  for (void* p : {static_cast<void*>(x_), xn_, static_cast<void*>(qkv_), attn_, static_cast<void*>(gu_), h_, xr_,
                  static_cast<void*>(d_logits_), static_cast<void*>(d_work_), static_cast<void*>(o_part_),
                  static_cast<void*>(ml_part_), static_cast<void*>(d_counts_), static_cast<void*>(d_sample_out_)}) {
    if (p != nullptr) cudaFree(p);
  }
  if (h_sample_out_ != nullptr) cudaFreeHost(h_sample_out_);
  free_mirror(&meta_);
  free_mirror(&smeta_);
  free_mirror(&gmeta_);
  if (forward_done_ != nullptr) cudaEventDestroy(forward_done_);
  if (rows_ready_ != nullptr) cudaEventDestroy(rows_ready_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void* CudaBackend::dev_alloc(size_t bytes, bool weight) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 256));
  if (e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    throw Error(std::string("cudaMalloc of ") + std::to_string(bytes) + " bytes failed (" + cudaGetErrorString(e) +
                "); device free " + std::to_string(free_b >> 20) + " MiB of " + std::to_string(total_b >> 20) + " MiB");
  }
  if (weight) {
    weight_allocs_.push_back(p);
    weight_bytes_ += static_cast<int64_t>(bytes);
  }
  return p;
}

void CudaBackend::dev_free(void* p) {
  if (p != nullptr) cudaFree(p);
}

void CudaBackend::ensure_mirror(Mirror* m, size_t bytes) {
  if (bytes <= m->cap) return;
  const size_t cap = std::max(bytes, m->cap * 2);
  free_mirror(m);
  DI_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&m->h), cap, cudaHostAllocDefault));
  DI_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m->d), cap));
  m->cap = cap;
}

void CudaBackend::free_mirror(Mirror* m) {
  if (m->h != nullptr) {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    cudaFreeHost(m->h);
  }
  if (m->d != nullptr) cudaFree(m->d);
  *m = Mirror();
}

CudaBackend::Matrix CudaBackend::upload_matrix(const std::vector<const TensorView*>& parts) {
  size_t fp8 = 0;
  for (const TensorView* t : parts) fp8 += t->dtype == DType::kF8E4M3;
  if (fp8 > 0) {
    if (fp8 != parts.size()) throw Error("a fused matrix mixes FP8 and unquantized weights (e.g. q_proj quantized but k_proj not): not supported");
    return upload_matrix_fp8(parts);
  }
  int64_t rows = 0;
  const int64_t K = parts[0]->shape[1];
  for (const TensorView* t : parts) rows += t->shape[0];
  const size_t es = static_cast<size_t>(dt_size(dt_));
  const size_t bytes = static_cast<size_t>(rows * K) * es;
  char* d = static_cast<char*>(dev_alloc(bytes, true));
  matrix_bytes_ += static_cast<int64_t>(bytes);
  size_t off = 0;
  std::vector<uint16_t> h16;
  std::vector<float> h32;
  for (const TensorView* t : parts) {
    const size_t n = static_cast<size_t>(t->numel());
    if (dt_of(t->dtype) == dt_) {
      DI_CUDA_CHECK(cudaMemcpy(d + off, t->data, n * es, cudaMemcpyHostToDevice));
    } else if (dt_ == Dt::kF32) {
      h32.resize(n);
      for (size_t i = 0; i < n; ++i) h32[i] = tensor_elem_f32(*t, i);
      DI_CUDA_CHECK(cudaMemcpy(d + off, h32.data(), n * 4, cudaMemcpyHostToDevice));
    } else {
      h16.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const float f = tensor_elem_f32(*t, i);
        h16[i] = dt_ == Dt::kBF16 ? f32_to_bf16(f) : f32_to_f16(f);
      }
      DI_CUDA_CHECK(cudaMemcpy(d + off, h16.data(), n * 2, cudaMemcpyHostToDevice));
    }
    off += n * es;
  }
  Matrix m;
  m.w = d;
  return m;
}

CudaBackend::Matrix CudaBackend::upload_matrix_fp8(const std::vector<const TensorView*>& parts) {
  // The bytes as stored (rows of the parts one after another) and, per row, one f32 scale per
  // run of kblock columns (per-tensor and per-channel scales: one run), as the CPU's q8 panels.
  int64_t rows = 0;
  const int64_t K = parts[0]->shape[1];
  for (const TensorView* t : parts) rows += t->shape[0];
  Matrix m;
  m.kblock = cfg_.fp8.scales == Fp8Quantization::Scales::kBlock ? cfg_.fp8.block_k : static_cast<int>(K);
  const int64_t nkb = (K + m.kblock - 1) / m.kblock;
  char* d = static_cast<char*>(dev_alloc(static_cast<size_t>(rows * K), true));
  std::vector<float> sc(static_cast<size_t>(rows * nkb));
  size_t off = 0;
  int64_t r0 = 0;
  for (const TensorView* t : parts) {
    const auto it = weights_->fp8_scales.find(t);
    if (it == weights_->fp8_scales.end()) throw Error("FP8 weight without a scale tensor");
    DI_CUDA_CHECK(cudaMemcpy(d + off, t->data, static_cast<size_t>(t->numel()), cudaMemcpyHostToDevice));
    off += static_cast<size_t>(t->numel());
    for (int64_t n = 0; n < t->shape[0]; ++n) {
      for (int64_t kb = 0; kb < nkb; ++kb) {
        sc[static_cast<size_t>((r0 + n) * nkb + kb)] = fp8_scale_at(cfg_.fp8, *it->second, n, kb * m.kblock, K);
      }
    }
    r0 += t->shape[0];
  }
  m.w = d;
  m.scales = static_cast<float*>(dev_alloc(sc.size() * 4, true));
  DI_CUDA_CHECK(cudaMemcpy(m.scales, sc.data(), sc.size() * 4, cudaMemcpyHostToDevice));
  matrix_bytes_ += rows * K + static_cast<int64_t>(sc.size()) * 4;
  return m;
}

void CudaBackend::matmul(const void* A, const Matrix& W, float* C, int M, int N, int K, int ldc, bool accumulate) {
  if (W.scales != nullptr) {
    launch_gemv_fp8(A, dt_, static_cast<const uint8_t*>(W.w), W.scales, W.kblock, C, M, N, K, ldc, accumulate, stream_);
  } else {
    gemm_.run(A, W.w, dt_, C, M, N, K, ldc, accumulate, stream_);
  }
}

float* CudaBackend::upload_vector(const std::vector<const TensorView*>& parts) {
  if (parts.empty() || parts[0] == nullptr) return nullptr;
  std::vector<float> h;
  for (const TensorView* t : parts) {
    for (int64_t i = 0; i < t->numel(); ++i) h.push_back(tensor_elem_f32(*t, static_cast<size_t>(i)));
  }
  float* d = static_cast<float*>(dev_alloc(h.size() * 4, true));
  DI_CUDA_CHECK(cudaMemcpy(d, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
  return d;
}

void CudaBackend::setup_common() {
  const int G = cfg_.num_heads / cfg_.num_kv_heads;
  if (cfg_.head_dim > 256 || cfg_.head_dim % 2 != 0) {
    throw Error("cuda backend: head_dim " + std::to_string(cfg_.head_dim) + " is not supported (even, <= 256)");
  }
  if (G * cfg_.head_dim > 4096) {
    throw Error("cuda backend: (num_heads / num_kv_heads) * head_dim = " + std::to_string(G * cfg_.head_dim) +
                " exceeds the decode kernel's 4096");
  }
  const std::vector<double> inv = rope_inv_freq(cfg_);
  inv_freq_ = static_cast<double*>(dev_alloc(inv.size() * sizeof(double), true));
  DI_CUDA_CHECK(cudaMemcpy(inv_freq_, inv.data(), inv.size() * sizeof(double), cudaMemcpyHostToDevice));
}

void CudaBackend::load_weights(const ModelConfig& cfg, const ModelWeights& w) {
  if (!w.fp8_scales.empty() && !fp8_validated()) {
    // Refused rather than widened: an FP8 checkpoint's point on a GPU is the bytes it saves.
    // The kernels exist (fp8.cu) but are not validated on a GPU yet.
    throw Error("config.backend: FP8 weights (quantization_config " + cfg.fp8.method +
                ") are not supported by the cuda backend yet (its FP8 kernels are not validated on a GPU yet); "
                "the cpu backend runs them (device cpu)");
  }
  cfg_ = cfg;  // dt_, the served type, was fixed by the constructor; upload_matrix converts to it
  weights_ = &w;
  embed_ = upload_matrix({w.embed}).w;
  matrix_bytes_ -= static_cast<int64_t>(w.embed->numel()) * dt_size(dt_);  // rows are gathered, not streamed
  final_norm_ = upload_vector({w.final_norm});
  layers_.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerTensors& t = w.layers[l];
    Layer& L = layers_[l];
    L.attn_norm = upload_vector({t.attn_norm});
    L.mlp_norm = upload_vector({t.mlp_norm});
    L.wqkv = upload_matrix({t.wq, t.wk, t.wv});
    if (t.bq != nullptr) L.bqkv = upload_vector({t.bq, t.bk, t.bv});
    L.q_norm = upload_vector({t.q_norm});
    L.k_norm = upload_vector({t.k_norm});
    L.wo = upload_matrix({t.wo});
    L.wgu = upload_matrix({t.w_gate, t.w_up});
    L.wdown = upload_matrix({t.w_down});
  }
  if (w.lm_head == w.embed) {
    lm_head_.w = embed_;
    matrix_bytes_ += static_cast<int64_t>(w.embed->numel()) * dt_size(dt_);
  } else {
    lm_head_ = upload_matrix({w.lm_head});
  }
  weights_ = nullptr;
  setup_common();
}

void CudaBackend::load_device_weights(const ModelConfig& cfg, Dt dt, DeviceWeightSource& src, bool fp8_matrices) {
  cfg_ = cfg;
  dt_ = dt;
  const int64_t D = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
  const int64_t qd = static_cast<int64_t>(cfg.num_heads) * cfg.head_dim;
  const int64_t kvd = static_cast<int64_t>(cfg.num_kv_heads) * cfg.head_dim;
  auto matrix = [&](int64_t rows, int64_t cols) {
    const size_t bytes = static_cast<size_t>(rows * cols) * dt_size(dt_);
    Matrix m;
    m.w = dev_alloc(bytes, true);
    matrix_bytes_ += static_cast<int64_t>(bytes);
    src.fill_matrix(m.w, rows, cols, dt_, stream_);
    return m;
  };
  // The layers' matrices (not the embedding or the LM head, as FP8 checkpoints leave them).
  auto layer_matrix = [&](int64_t rows, int64_t cols) {
    if (!fp8_matrices) return matrix(rows, cols);
    Matrix m;
    m.w = dev_alloc(static_cast<size_t>(rows * cols), true);
    m.scales = static_cast<float*>(dev_alloc(static_cast<size_t>(rows) * 4, true));
    m.kblock = static_cast<int>(cols);
    matrix_bytes_ += rows * cols + rows * 4;
    src.fill_matrix_fp8(static_cast<uint8_t*>(m.w), m.scales, rows, cols, stream_);
    return m;
  };
  auto vector = [&](int64_t n, DeviceWeightSource::Vector kind) {
    float* d = static_cast<float*>(dev_alloc(static_cast<size_t>(n) * 4, true));
    src.fill_vector(d, n, kind, stream_);
    return d;
  };
  using Vec = DeviceWeightSource::Vector;
  embed_ = matrix(V, D).w;
  matrix_bytes_ -= V * D * dt_size(dt_);  // rows are gathered, not streamed
  final_norm_ = vector(D, Vec::kNorm);
  layers_.resize(static_cast<size_t>(cfg.num_layers));
  for (Layer& L : layers_) {
    L.attn_norm = vector(D, Vec::kNorm);
    L.mlp_norm = vector(D, Vec::kNorm);
    L.wqkv = layer_matrix(qd + 2 * kvd, D);
    if (cfg.qkv_bias) L.bqkv = vector(qd + 2 * kvd, Vec::kBias);
    if (cfg.qk_norm) {
      L.q_norm = vector(cfg.head_dim, Vec::kNorm);
      L.k_norm = vector(cfg.head_dim, Vec::kNorm);
    }
    L.wo = layer_matrix(D, qd);
    L.wgu = layer_matrix(2 * I, D);
    L.wdown = layer_matrix(D, I);
  }
  if (cfg.tie_word_embeddings) {
    lm_head_.w = embed_;
  } else {
    lm_head_ = matrix(V, D);
  }
  if (cfg.tie_word_embeddings) matrix_bytes_ += V * D * dt_size(dt_);
  DI_CUDA_CHECK(cudaStreamSynchronize(stream_));
  setup_common();
}

void CudaBackend::free_kv() {
  drop_graphs();
  if (kv_base_ != nullptr) {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    cudaFree(kv_base_);
  }
  kv_base_ = nullptr;
  k_cache_.clear();
  v_cache_.clear();
  k_exp_.clear();
  v_exp_.clear();
  kv_bytes_ = 0;
}

void CudaBackend::init_kv_cache(const KvCacheGeometry& g) {
  free_kv();
  geo_ = g;
  // Per layer: K then V ([slots][Hkv][hd] elements); fp8 adds, after all layers, the
  // exponent planes ([slots][Hkv] bytes each, 256-aligned).
  const size_t layer_bytes = align_up(static_cast<size_t>(g.layer_elements()) * (kv_fp8_ ? 1 : dt_size(dt_)), 256);
  const size_t exp_bytes = kv_fp8_ ? align_up(static_cast<size_t>(g.slots()) * g.num_kv_heads, 256) : 0;
  const size_t total = (layer_bytes + exp_bytes) * 2 * static_cast<size_t>(g.num_layers);
  kv_base_ = dev_alloc(total, false);
  kv_bytes_ = static_cast<int64_t>(total);
  char* p = static_cast<char*>(kv_base_);
  char* e = p + layer_bytes * 2 * static_cast<size_t>(g.num_layers);
  for (int l = 0; l < g.num_layers; ++l) {
    k_cache_.push_back(p + layer_bytes * (2 * static_cast<size_t>(l)));
    v_cache_.push_back(p + layer_bytes * (2 * static_cast<size_t>(l) + 1));
    if (kv_fp8_) {
      k_exp_.push_back(reinterpret_cast<int8_t*>(e + exp_bytes * (2 * static_cast<size_t>(l))));
      v_exp_.push_back(reinterpret_cast<int8_t*>(e + exp_bytes * (2 * static_cast<size_t>(l) + 1)));
    }
  }
}

void CudaBackend::reserve(int32_t max_tokens, int32_t max_rows) {
  const size_t es = static_cast<size_t>(dt_size(dt_));
  const size_t D = static_cast<size_t>(cfg_.hidden_size), I = static_cast<size_t>(cfg_.intermediate_size);
  const size_t qd = static_cast<size_t>(cfg_.num_heads) * cfg_.head_dim;
  const size_t kvd = static_cast<size_t>(cfg_.num_kv_heads) * cfg_.head_dim;
  const size_t V = static_cast<size_t>(cfg_.vocab_size);
  if (stream_ != nullptr) DI_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (max_tokens > cap_tokens_ || max_rows > cap_rows_) drop_graphs();
  if (max_tokens > cap_tokens_) {
    const size_t T = static_cast<size_t>(max_tokens);
    for (void* p : {static_cast<void*>(x_), xn_, static_cast<void*>(qkv_), attn_, static_cast<void*>(gu_), h_,
                    static_cast<void*>(o_part_), static_cast<void*>(ml_part_)}) {
      dev_free(p);
    }
    x_ = static_cast<float*>(dev_alloc(T * D * 4, false));
    xn_ = dev_alloc(T * D * es, false);
    qkv_ = static_cast<float*>(dev_alloc(T * (qd + 2 * kvd) * 4, false));
    attn_ = dev_alloc(T * qd * es, false);
    gu_ = static_cast<float*>(dev_alloc(T * 2 * I * 4, false));
    h_ = dev_alloc(T * I * es, false);
    const size_t dec_rows = std::min<size_t>(T, 256);
    o_part_ = static_cast<float*>(dev_alloc(dec_rows * static_cast<size_t>(cfg_.num_heads) * kDecodeMaxParts *
                                                static_cast<size_t>(cfg_.head_dim) * 4,
                                            false));
    ml_part_ = static_cast<float*>(
        dev_alloc(dec_rows * static_cast<size_t>(cfg_.num_heads) * kDecodeMaxParts * 2 * 4, false));
    cap_tokens_ = max_tokens;
  }
  if (max_rows > cap_rows_) {
    const size_t R = static_cast<size_t>(max_rows);
    for (void* p : {xr_, static_cast<void*>(d_logits_), static_cast<void*>(d_work_), static_cast<void*>(d_sample_out_)}) {
      dev_free(p);
    }
    if (h_sample_out_ != nullptr) cudaFreeHost(h_sample_out_);
    xr_ = dev_alloc(R * D * es, false);
    d_logits_ = static_cast<float*>(dev_alloc(R * V * 4, false));
    d_work_ = static_cast<float*>(dev_alloc(R * V * 4, false));
    d_sample_out_ = static_cast<SampleOutDev*>(dev_alloc(R * sizeof(SampleOutDev), false));
    DI_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&h_sample_out_), R * sizeof(SampleOutDev), cudaHostAllocDefault));
    cap_rows_ = max_rows;
  }
}

int32_t CudaBackend::plan_kv_blocks(const KvCacheGeometry& one_block, int32_t max_tokens, int32_t max_rows,
                                    double util) {
  reserve(max_tokens, max_rows);
  // Profiling step: the largest step (max_tokens tokens of one sequence, one sampled row)
  // through a temporary KV cache, so cuBLAS workspaces, kernel modules and the sampling
  // buffers are all in place before free memory is measured.
  const int bs = one_block.block_size;
  const int32_t T = static_cast<int32_t>(std::min<int64_t>(max_tokens, cfg_.max_position_embeddings));
  KvCacheGeometry tmp = one_block;
  tmp.num_blocks = (T + bs - 1) / bs;
  init_kv_cache(tmp);
  std::vector<int32_t> tokens(static_cast<size_t>(T), 0), positions(static_cast<size_t>(T)), seq(static_cast<size_t>(T), 0);
  std::vector<int32_t> table(static_cast<size_t>(tmp.num_blocks));
  for (int32_t i = 0; i < T; ++i) positions[static_cast<size_t>(i)] = i;
  for (int32_t i = 0; i < tmp.num_blocks; ++i) table[static_cast<size_t>(i)] = i;
  SeqSpan span{0, T, 0, table.data(), tmp.num_blocks};
  const int32_t last = T - 1;
  ForwardBatch b;
  b.num_tokens = T;
  b.token_ids = tokens.data();
  b.positions = positions.data();
  b.token_seq = seq.data();
  b.num_seqs = 1;
  b.seqs = &span;
  b.num_logit_rows = 1;
  b.logit_rows = &last;
  di_sampling_params sp;
  di_sampling_params_init(&sp);
  sp.temperature = 1.f;
  sp.top_p = 0.9f;
  sp.num_logprobs = DI_MAX_LOGPROBS;
  SampleRow row;
  row.params = &sp;
  row.uniform = 0.5;
  di_seq_output out;
  forward_sample(b, &row, &out, nullptr, nullptr);
  DI_CUDA_CHECK(cudaStreamSynchronize(stream_));
  free_kv();
  size_t free_b = 0, total_b = 0;
  DI_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const double used = static_cast<double>(total_b - free_b);
  const double budget = util * static_cast<double>(total_b) - used;
  const double per_block = static_cast<double>(one_block.block_bytes());
  const double blocks = std::floor(budget / per_block);
  if (blocks < 1.0) {
    throw Error("cuda backend: gpu_memory_utilization " + std::to_string(util) + " of " +
                std::to_string(total_b >> 20) + " MiB leaves no room for the KV cache: in use after weights (" +
                std::to_string(weight_bytes_ >> 20) + " MiB) and the profiling step at " + std::to_string(T) +
                " tokens: " + std::to_string(static_cast<int64_t>(used) >> 20) + " MiB");
  }
  return static_cast<int32_t>(std::min(blocks, 2.0e9));
}

void CudaBackend::run(const ForwardBatch& b) {
  const int T = b.num_tokens;
  const int R = b.num_logit_rows;
  if (T > cap_tokens_ || R > cap_rows_) reserve(std::max(T, cap_tokens_), std::max(R, cap_rows_));
  if (observer_ != nullptr) observer_->begin(stream_);
  build_step_plan(b, geo_.block_size, &plan_);
  if (run_as_graph(R)) return;
  // Pack the plan into one pinned buffer: [tokens][positions][logit_rows][block_tables]
  // [slots (8-aligned)][decode rows][prefill tiles], then one host-to-device copy.
  size_t off = 0;
  auto place = [&](size_t bytes, size_t align) {
    off = align_up(off, align);
    const size_t at = off;
    off += bytes;
    return at;
  };
  const size_t o_tok = place(4 * static_cast<size_t>(T), 16);
  const size_t o_pos = place(4 * static_cast<size_t>(T), 16);
  const size_t o_lr = place(4 * static_cast<size_t>(R), 16);
  const size_t o_bt = place(4 * plan_.block_tables.size(), 16);
  const size_t o_slot = place(8 * static_cast<size_t>(T), 16);
  const size_t o_dec = place(sizeof(DecodeRow) * plan_.decode_rows.size(), 16);
  const size_t o_pre = place(sizeof(PrefillTile) * plan_.prefill_tiles.size(), 16);
  ensure_mirror(&meta_, off);
  // The previous step's copy has completed: steps end with a stream synchronisation.
  std::memcpy(meta_.h + o_tok, plan_.tokens.data(), 4 * static_cast<size_t>(T));
  std::memcpy(meta_.h + o_pos, plan_.positions.data(), 4 * static_cast<size_t>(T));
  if (R > 0) std::memcpy(meta_.h + o_lr, plan_.logit_rows.data(), 4 * static_cast<size_t>(R));
  std::memcpy(meta_.h + o_bt, plan_.block_tables.data(), 4 * plan_.block_tables.size());
  std::memcpy(meta_.h + o_slot, plan_.slots.data(), 8 * static_cast<size_t>(T));
  if (!plan_.decode_rows.empty()) {
    std::memcpy(meta_.h + o_dec, plan_.decode_rows.data(), sizeof(DecodeRow) * plan_.decode_rows.size());
  }
  if (!plan_.prefill_tiles.empty()) {
    std::memcpy(meta_.h + o_pre, plan_.prefill_tiles.data(), sizeof(PrefillTile) * plan_.prefill_tiles.size());
  }
  DI_CUDA_CHECK(cudaMemcpyAsync(meta_.d, meta_.h, off, cudaMemcpyHostToDevice, stream_));
  StepView v;
  v.T = T;
  v.R = R;
  v.n_dec = static_cast<int>(plan_.decode_rows.size());
  v.n_pre = static_cast<int>(plan_.prefill_tiles.size());
  v.max_parts = plan_.max_decode_parts;
  v.tokens = reinterpret_cast<const int32_t*>(meta_.d + o_tok);
  v.positions = reinterpret_cast<const int32_t*>(meta_.d + o_pos);
  v.logit_rows = reinterpret_cast<const int32_t*>(meta_.d + o_lr);
  v.block_tables = reinterpret_cast<const int32_t*>(meta_.d + o_bt);
  v.slots = reinterpret_cast<const int64_t*>(meta_.d + o_slot);
  v.decode_rows = reinterpret_cast<const DecodeRow*>(meta_.d + o_dec);
  v.prefill_tiles = reinterpret_cast<const PrefillTile*>(meta_.d + o_pre);
  mark("plan upload");
  enqueue_forward(v);
}

bool CudaBackend::run_as_graph(int R) {
  if (!graphs_enabled_ || observer_ != nullptr || geo_.block_size <= 0) return false;
  if (graph_layout_.bytes == 0) {
    // Table capacity: every row of the largest bucket at the longest context. Allocated once:
    // captured graphs hold these addresses.
    const size_t per_seq =
        static_cast<size_t>((cfg_.max_position_embeddings + geo_.block_size - 1) / geo_.block_size);
    graph_layout_ = graph_plan_layout(std::min<size_t>(per_seq * kMaxGraphBatch, size_t(1) << 22));
    ensure_mirror(&gmeta_, graph_layout_.bytes);
  }
  if (!graph_eligible(plan_, R, graph_layout_)) return false;
  const int bucket = graph_bucket(R);
  if (bucket > cap_tokens_ || bucket > cap_rows_) return false;
  const size_t bytes = pack_graph_plan(plan_, bucket, graph_layout_, gmeta_.h);
  DI_CUDA_CHECK(cudaMemcpyAsync(gmeta_.d, gmeta_.h, bytes, cudaMemcpyHostToDevice, stream_));
  StepView v;
  v.T = v.R = v.n_dec = bucket;
  v.n_pre = 0;
  v.max_parts = kDecodeMaxParts;  // a row's blocks beyond its own partitions exit at once
  v.tokens = reinterpret_cast<const int32_t*>(gmeta_.d + graph_layout_.tokens);
  v.positions = reinterpret_cast<const int32_t*>(gmeta_.d + graph_layout_.positions);
  v.logit_rows = reinterpret_cast<const int32_t*>(gmeta_.d + graph_layout_.logit_rows);
  v.block_tables = reinterpret_cast<const int32_t*>(gmeta_.d + graph_layout_.block_tables);
  v.slots = reinterpret_cast<const int64_t*>(gmeta_.d + graph_layout_.slots);
  v.decode_rows = reinterpret_cast<const DecodeRow*>(gmeta_.d + graph_layout_.decode_rows);
  v.prefill_tiles = nullptr;
  auto it = graphs_.find(bucket);
  if (it == graphs_.end()) {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    DI_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    std::string why;
    try {
      enqueue_forward(v);
    } catch (const std::exception& e) {
      why = e.what();
    }
    cudaError_t e = cudaStreamEndCapture(stream_, &graph);
    if (why.empty() && e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (!why.empty() || e != cudaSuccess) {
      // Not capturable here (an old driver, a cuBLAS without workspace control): run eagerly
      // from now on, and say why in the engine info.
      cudaGetLastError();
      graphs_enabled_ = false;
      graphs_note_ = "CUDA graphs off: capture failed: " + (why.empty() ? std::string(cudaGetErrorString(e)) : why);
      enqueue_forward(v);
      return true;
    }
    it = graphs_.emplace(bucket, exec).first;
  }
  DI_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
  return true;
}

void CudaBackend::drop_graphs() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  for (auto& g : graphs_) cudaGraphExecDestroy(g.second);
  graphs_.clear();
}

void CudaBackend::enqueue_forward(const StepView& v) {
  const int T = v.T, R = v.R;
  const int D = cfg_.hidden_size, hd = cfg_.head_dim, Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads;
  const int qd = Hq * hd, kvd = Hkv * hd, nqkv = qd + 2 * kvd, I = cfg_.intermediate_size, V = cfg_.vocab_size;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  launch_embedding(v.tokens, T, embed_, dt_, D, x_, stream_);
  mark("embedding");
  AttnParams ap;
  ap.qkv = qkv_;
  ap.nqkv = nqkv;
  ap.Hq = Hq;
  ap.Hkv = Hkv;
  ap.hd = hd;
  ap.block_size = geo_.block_size;
  ap.scale = 1.f / std::sqrt(static_cast<float>(hd));
  ap.dt = dt_;
  ap.block_tables = v.block_tables;
  ap.out = attn_;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    launch_add_rmsnorm(x_, nullptr, nullptr, T, D, L.attn_norm, eps, xn_, dt_, stream_);
    mark("rmsnorm");
    matmul(xn_, L.wqkv, qkv_, T, nqkv, D, nqkv, false);
    mark("gemm qkv");
    launch_qkv_rope(qkv_, T, v.positions, inv_freq_, Hq, Hkv, hd, L.bqkv, L.q_norm, L.k_norm, eps, stream_);
    if (kv_fp8_) {
      auto* k8 = static_cast<uint8_t*>(k_cache_[l]);
      auto* v8 = static_cast<uint8_t*>(v_cache_[l]);
      launch_kv_write_fp8(qkv_, T, nqkv, qd, Hkv, hd, v.slots, k8, v8, k_exp_[l], v_exp_[l], stream_);
      mark("rope + kv write");
      Fp8AttnParams a8;
      a8.qkv = qkv_;
      a8.nqkv = nqkv;
      a8.Hq = Hq;
      a8.Hkv = Hkv;
      a8.hd = hd;
      a8.block_size = geo_.block_size;
      a8.scale = ap.scale;
      a8.k8 = k8;
      a8.v8 = v8;
      a8.k_exp = k_exp_[l];
      a8.v_exp = v_exp_[l];
      a8.block_tables = v.block_tables;
      a8.dt = dt_;
      a8.out = attn_;
      launch_attention_decode_fp8(a8, v.decode_rows, v.n_dec, stream_);
      mark("attention decode");
      launch_attention_prefill_fp8(a8, v.prefill_tiles, v.n_pre, stream_);
      mark("attention prefill");
    } else {
      launch_kv_write(qkv_, T, nqkv, qd, kvd, v.slots, k_cache_[l], v_cache_[l], dt_, stream_);
      mark("rope + kv write");
      ap.k_cache = k_cache_[l];
      ap.v_cache = v_cache_[l];
      for (int r0 = 0; r0 < v.n_dec; r0 += 256) {
        launch_attention_decode(ap, v.decode_rows + r0, std::min(256, v.n_dec - r0), v.max_parts, o_part_, ml_part_,
                                decode_attn_, stream_);
      }
      mark("attention decode");
      launch_attention_prefill(ap, v.prefill_tiles, v.n_pre, prefill_attn_, stream_);
      mark("attention prefill");
    }
    matmul(attn_, L.wo, x_, T, D, qd, D, true);  // x += attn Wo^T (fused residual)
    mark("gemm o");
    launch_add_rmsnorm(x_, nullptr, nullptr, T, D, L.mlp_norm, eps, xn_, dt_, stream_);
    mark("rmsnorm");
    matmul(xn_, L.wgu, gu_, T, 2 * I, D, 2 * I, false);
    mark("gemm gate+up");
    launch_silu_mul(gu_, T, I, h_, dt_, stream_);
    mark("silu*mul");
    matmul(h_, L.wdown, x_, T, D, I, D, true);  // x += h Wdown^T
    mark("gemm down");
  }
  if (R == 0) return;
  launch_add_rmsnorm(x_, nullptr, v.logit_rows, R, D, final_norm_, eps, xr_, dt_, stream_);
  matmul(xr_, lm_head_, d_logits_, R, V, D, V, false);
  mark("final norm + lm head");
}

void CudaBackend::forward(const ForwardBatch& b, float* logits) {
  run(b);
  const size_t n = static_cast<size_t>(b.num_logit_rows) * cfg_.vocab_size;
  if (n > 0) DI_CUDA_CHECK(cudaMemcpyAsync(logits, d_logits_, n * 4, cudaMemcpyDeviceToHost, stream_));
  mark("copy out");
  DI_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (observer_ != nullptr) observer_->end();
}

double CudaBackend::forward_sample(const ForwardBatch& b, const SampleRow* rows, di_seq_output* outs, float* logits,
                                   BeforeSampling* before_sampling) {
  // Phase 1: the forward pass is enqueued on stream_ (a graph replay or eager launches); nothing
  // waits for it here.
  run(b);
  // Phase 2: the engine completes the rows (it waits for the caller's guided masks) on this
  // thread while the device runs the forward pass. Everything below is enqueued on stream_
  // after the forward pass, so the sampling parameters and masks, staged in pinned smeta_ and
  // copied asynchronously, reach the device after the logits are written and before sampling
  // reads them. The two events bracket the device's idle time in between: rows_ready_ is
  // reached at once when the hook returned while the forward pass was still running.
  if (before_sampling != nullptr) {
    DI_CUDA_CHECK(cudaEventRecord(forward_done_, stream_));
    try {
      before_sampling->complete_rows();
    } catch (...) {
      // Leave the device idle, as every step does on return: the next step rewrites the pinned
      // step metadata that the launched work may still be copying from.
      cudaStreamSynchronize(stream_);
      if (observer_ != nullptr) observer_->end();
      throw;
    }
    DI_CUDA_CHECK(cudaEventRecord(rows_ready_, stream_));
  }
  const int R = b.num_logit_rows;
  const int V = cfg_.vocab_size;
  if (R > 0) {
    // Sampling parameters and id lists: [params][ids][bias values], one copy.
    size_t n_ids = 0;
    int32_t pen_rows = 0;
    const size_t mask_words = (static_cast<size_t>(V) + 31) / 32;
    for (int r = 0; r < R; ++r) {
      const di_sampling_params& p = *rows[r].params;
      n_ids += static_cast<size_t>(p.num_logit_bias);
      if (p.allowed_token_mask != nullptr) n_ids += mask_words;
      const bool pen = p.repetition_penalty != 1.f || p.frequency_penalty != 0.f || p.presence_penalty != 0.f;
      if (pen) {
        n_ids += static_cast<size_t>(rows[r].num_prompt_ids + rows[r].num_output_ids);
        ++pen_rows;
      }
    }
    size_t off = 0;
    const size_t o_par = 0;
    off = align_up(sizeof(SampleParamsDev) * static_cast<size_t>(R), 16);
    const size_t o_ids = off;
    off = align_up(off + 4 * n_ids, 16);
    const size_t o_bias = off;
    off += 4 * n_ids;
    ensure_mirror(&smeta_, off + 16);
    if (pen_rows > count_rows_) {
      DI_CUDA_CHECK(cudaStreamSynchronize(stream_));
      dev_free(d_counts_);
      const size_t bytes = static_cast<size_t>(pen_rows) * V * 4;
      d_counts_ = static_cast<int32_t*>(dev_alloc(bytes, false));
      DI_CUDA_CHECK(cudaMemsetAsync(d_counts_, 0, bytes, stream_));
      count_rows_ = pen_rows;
    }
    auto* hp = reinterpret_cast<SampleParamsDev*>(smeta_.h + o_par);
    auto* hid = reinterpret_cast<int32_t*>(smeta_.h + o_ids);
    auto* hbv = reinterpret_cast<float*>(smeta_.h + o_bias);
    int32_t at = 0, pen = 0;
    for (int r = 0; r < R; ++r) {
      const di_sampling_params& p = *rows[r].params;
      SampleParamsDev& d = hp[r];
      std::memset(&d, 0, sizeof(d));
      d.temperature = p.temperature;
      d.top_p = p.top_p;
      d.min_p = p.min_p;
      d.presence = p.presence_penalty;
      d.frequency = p.frequency_penalty;
      d.repetition = p.repetition_penalty;
      d.top_k = p.top_k;
      d.num_logprobs = p.num_logprobs;
      d.uniform = rows[r].uniform;
      d.bias_off = at;
      d.bias_n = p.num_logit_bias;
      for (int32_t j = 0; j < p.num_logit_bias; ++j) {
        hid[at] = p.logit_bias_ids[j];
        hbv[at] = p.logit_bias_values[j];
        ++at;
      }
      d.counts_row = -1;
      if (p.repetition_penalty != 1.f || p.frequency_penalty != 0.f || p.presence_penalty != 0.f) {
        d.counts_row = pen++;
        d.prompt_off = at;
        d.prompt_n = rows[r].num_prompt_ids;
        for (int32_t j = 0; j < rows[r].num_prompt_ids; ++j) hid[at++] = rows[r].prompt_ids[j];
        d.output_off = at;
        d.output_n = rows[r].num_output_ids;
        for (int32_t j = 0; j < rows[r].num_output_ids; ++j) hid[at++] = rows[r].output_ids[j];
      }
      d.mask_off = -1;
      if (p.allowed_token_mask != nullptr) {
        d.mask_off = at;
        std::memcpy(hid + at, p.allowed_token_mask, mask_words * 4);
        at += static_cast<int32_t>(mask_words);
      }
    }
    DI_CUDA_CHECK(cudaMemcpyAsync(smeta_.d, smeta_.h, off, cudaMemcpyHostToDevice, stream_));
    launch_sample(d_logits_, R, V, reinterpret_cast<const SampleParamsDev*>(smeta_.d + o_par),
                  reinterpret_cast<const int32_t*>(smeta_.d + o_ids), reinterpret_cast<const float*>(smeta_.d + o_bias),
                  d_work_, d_counts_, d_sample_out_, stream_);
    mark("sampling");
    DI_CUDA_CHECK(cudaMemcpyAsync(h_sample_out_, d_sample_out_, sizeof(SampleOutDev) * static_cast<size_t>(R),
                                  cudaMemcpyDeviceToHost, stream_));
    if (logits != nullptr) {
      DI_CUDA_CHECK(cudaMemcpyAsync(logits, d_logits_, sizeof(float) * static_cast<size_t>(R) * V,
                                    cudaMemcpyDeviceToHost, stream_));
    }
  }
  mark("copy out");
  DI_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (observer_ != nullptr) observer_->end();
  float device_wait_ms = 0.f;  // both events have completed: the stream is idle
  if (before_sampling != nullptr) DI_CUDA_CHECK(cudaEventElapsedTime(&device_wait_ms, forward_done_, rows_ready_));
  for (int r = 0; r < R; ++r) {
    const SampleOutDev& s = h_sample_out_[r];
    di_seq_output& o = outs[r];
    std::memset(&o, 0, sizeof(o));
    o.sampled = 1;
    o.token_id = s.token_id;
    o.logprob = s.logprob;
    o.rank = s.rank;
    o.num_top = s.num_top;
    for (int i = 0; i < s.num_top && i < DI_MAX_LOGPROBS; ++i) {
      o.top_ids[i] = s.top_ids[i];
      o.top_logprobs[i] = s.top_logprobs[i];
    }
  }
  return device_wait_ms;
}

std::string CudaBackend::details() const {
  std::string d = std::string("gemm: ") + gemm_.note();
  if (layers_.size() > 0 && layers_[0].wqkv.scales != nullptr) d += "; fp8 weights: fp8 gemv (unvalidated)";
  if (kv_fp8_) d += "; kv cache: fp8 (fp8.cu attention, unvalidated)";
  d += prefill_attn_ == PrefillAttn::kMma ? "; prefill attention: mma" : "; prefill attention: fma";
  d += decode_attn_ == DecodeAttn::kMma     ? "; decode attention: mma"
       : decode_attn_ == DecodeAttn::kTiled ? "; decode attention: tiled"
                                            : "; decode attention: warp";
  if (graphs_enabled_) {
    d += "; cuda graphs: on";
  } else {
    d += graphs_note_.empty() ? "; cuda graphs: off" : "; " + graphs_note_;
  }
  return d;
}

DeviceMemoryInfo CudaBackend::memory_info() const {
  DeviceMemoryInfo m;
  m.kv_cache_bytes = kv_bytes_;
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
    m.free_bytes = static_cast<int64_t>(free_b);
    m.total_bytes = static_cast<int64_t>(total_b);
  }
  return m;
}

// ---- the weak-linked entry points (cuda_api.h) ----

namespace {
int api_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}
std::unique_ptr<Backend> api_create(int device, const BackendOptions& options) {
  return std::make_unique<CudaBackend>(device, options);
}
const Api g_api = {kApiVersion, &api_device_count, &api_create};
}  // namespace

}  // namespace cuda
}  // namespace deepinfer

extern "C" const deepinfer::cuda::Api* deepinfer_cuda_api(void) { return &deepinfer::cuda::g_api; }
