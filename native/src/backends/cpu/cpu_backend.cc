#include "backends/cpu/cpu_backend.h"

#include "core/kv_fp8.h"
#include "core/rope_freq.h"
#include "core/tensor_elem.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "core/error.h"

namespace deepinfer {
namespace cpu {

CpuBackend::CpuBackend(int num_threads, const BackendOptions& options)
    : k_(kernels()), dtype_(options.dtype), pool_(num_threads) {
  if (options.kv_cache_dtype.has_value() && *options.kv_cache_dtype != DType::kF32 &&
      *options.kv_cache_dtype != DType::kF8E4M3) {
    throw Error(std::string("config.kv_cache_dtype: \"") + dtype_setting_name(*options.kv_cache_dtype) +
                "\" is not supported by the cpu backend (its KV cache is float32 or fp8); use auto, float32 or fp8");
  }
  kv_fp8_ = options.kv_cache_dtype == DType::kF8E4M3;
  name_ = std::string("cpu-") + k_.name;
  if (const char* v = std::getenv("DEEPINFER_DEV_CPU_SERIAL_MACS")) serial_macs_ = std::atoll(v);
}

float CpuBackend::served_elem(const TensorView& t, size_t i) const {
  const float f = tensor_elem_f32(t, i);
  // Rounding is needed only when the served type is narrower than the stored one; bf16 and f16
  // hold each other's values only approximately, so a bf16 tensor served as f16 is rounded too.
  if (dtype_ == DType::kF32 || dtype_ == t.dtype) return f;
  return dtype_ == DType::kBF16 ? bf16_to_f32(f32_to_bf16(f)) : f16_to_f32(f32_to_f16(f));
}

CpuBackend::~CpuBackend() = default;

PackedMatrix CpuBackend::pack_rows(const std::vector<RowSrc>& row_src, int K) {
  size_t fp8_rows = 0, rows = 0;
  for (const RowSrc& r : row_src) {
    if (r.first == nullptr) continue;
    ++rows;
    fp8_rows += r.first->dtype == DType::kF8E4M3;
  }
  if (fp8_rows > 0) {
    if (fp8_rows != rows) throw Error("a fused matrix mixes FP8 and unquantized weights (e.g. q_proj quantized but k_proj not): not supported");
    return pack_rows_fp8(row_src, K);
  }
  PackedMatrix m;
  m.k = K;
  m.n = static_cast<int>(row_src.size());
  const int np = m.num_panels();
  AlignedBuffer buf(static_cast<size_t>(np) * m.k * kPanel);
  m.data = buf.data();
  pool_.parallel_for(np, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = m.data + static_cast<size_t>(p) * K * kPanel;
      for (int j = 0; j < kPanel; ++j) {
        const int64_t n = p * kPanel + j;
        if (n >= m.n || row_src[static_cast<size_t>(n)].first == nullptr) {
          for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = 0.f;
          continue;
        }
        const TensorView& t = *row_src[static_cast<size_t>(n)].first;
        const size_t base = static_cast<size_t>(row_src[static_cast<size_t>(n)].second) * K;
        if (t.dtype == DType::kF32 && dtype_ == DType::kF32) {
          const float* src = reinterpret_cast<const float*>(t.data) + base;  // safetensors data is 4-aligned in practice
          for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = src[k];
        } else {
          for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = served_elem(t, base + k);
        }
      }
    }
  });
  packed_bytes_ += static_cast<int64_t>(buf.size()) * 4;
  weight_bytes_ += static_cast<int64_t>(buf.size()) * 4;
  owned_.push_back(std::move(buf));
  return m;
}

PackedMatrix CpuBackend::pack_rows_fp8(const std::vector<RowSrc>& row_src, int K) {
  PackedMatrix m;
  m.k = K;
  m.n = static_cast<int>(row_src.size());
  // One scale per row and run of block_k columns; per-tensor and per-channel scales are one run.
  m.q8_kblock = cfg_.fp8.scales == Fp8Quantization::Scales::kBlock ? cfg_.fp8.block_k : K;
  const int np = m.num_panels(), nkb = m.q8_kblocks();
  std::vector<uint8_t> bytes(static_cast<size_t>(np) * K * kPanel, 0);
  AlignedBuffer scales(static_cast<size_t>(np) * kPanel * nkb);
  pool_.parallel_for(np, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      uint8_t* dst = bytes.data() + static_cast<size_t>(p) * K * kPanel;
      for (int j = 0; j < kPanel; ++j) {
        const int64_t n = p * kPanel + j;
        float* row_scales = scales.data() + static_cast<size_t>(n) * nkb;
        if (n >= m.n || row_src[static_cast<size_t>(n)].first == nullptr) {
          for (int b = 0; b < nkb; ++b) row_scales[b] = 0.f;
          continue;
        }
        const TensorView& t = *row_src[static_cast<size_t>(n)].first;
        const int64_t r = row_src[static_cast<size_t>(n)].second;
        const uint8_t* src = t.data + static_cast<size_t>(r) * K;
        for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = src[k];
        const TensorView& scale = *weights_->fp8_scales.at(&t);
        for (int b = 0; b < nkb; ++b) row_scales[b] = fp8_scale_at(cfg_.fp8, scale, r, static_cast<int64_t>(b) * m.q8_kblock, K);
      }
    }
  });
  m.q8 = bytes.data();
  m.q8_scales = scales.data();
  const int64_t total = static_cast<int64_t>(bytes.size()) + static_cast<int64_t>(scales.size()) * 4;
  packed_bytes_ += total;
  weight_bytes_ += total;
  owned_q8_.push_back(std::move(bytes));
  owned_.push_back(std::move(scales));
  return m;
}

PackedMatrix CpuBackend::pack(const std::vector<const TensorView*>& parts) {
  std::vector<RowSrc> rows;  // per output row: (tensor, row)
  for (const TensorView* t : parts) {
    for (int64_t r = 0; r < t->shape[0]; ++r) rows.emplace_back(t, static_cast<int>(r));
  }
  return pack_rows(rows, static_cast<int>(parts[0]->shape[1]));
}

// Panel 2i holds rows [16i, 16i+16) of a, panel 2i+1 the same rows of b (zero rows past the
// end), so one thread owning a panel pair has both halves of 16 gate/up columns.
PackedMatrix CpuBackend::pack_interleaved(const TensorView* a, const TensorView* b) {
  const int n = static_cast<int>(a->shape[0]);
  const int np = (n + kPanel - 1) / kPanel;
  std::vector<RowSrc> rows;
  for (int p = 0; p < np; ++p) {
    for (const TensorView* t : {a, b}) {
      for (int j = 0; j < kPanel; ++j) {
        const int r = p * kPanel + j;
        rows.emplace_back(r < n ? t : nullptr, r);
      }
    }
  }
  return pack_rows(rows, static_cast<int>(a->shape[1]));
}

const float* CpuBackend::concat_f32(const std::vector<const TensorView*>& parts, bool served) {
  size_t n = 0;
  for (const TensorView* t : parts) n += static_cast<size_t>(t->numel());
  AlignedBuffer buf(n);
  size_t o = 0;
  for (const TensorView* t : parts) {
    for (int64_t i = 0; i < t->numel(); ++i) {
      const size_t at = static_cast<size_t>(i);
      buf.data()[o++] = served ? served_elem(*t, at) : tensor_elem_f32(*t, at);
    }
  }
  weight_bytes_ += static_cast<int64_t>(n) * 4;
  const float* p = buf.data();
  owned_.push_back(std::move(buf));
  return p;
}

const float* CpuBackend::vector_f32(const TensorView* t) {
  if (t == nullptr) return nullptr;
  return concat_f32({t});
}

void CpuBackend::load_weights(const ModelConfig& cfg, const ModelWeights& w) {
  cfg_ = cfg;
  weights_ = &w;
  const bool embed_in_place = w.embed->dtype == DType::kF32 && dtype_ == DType::kF32 &&
                              reinterpret_cast<uintptr_t>(w.embed->data) % alignof(float) == 0;
  if (embed_in_place) {
    embed_ = reinterpret_cast<const float*>(w.embed->data);
    weight_bytes_ += static_cast<int64_t>(w.embed->nbytes);
  } else {
    // The embedding is a matrix like the others (the CUDA backend stores it in the served type).
    embed_ = concat_f32({w.embed}, /*served=*/true);
  }
  final_norm_ = vector_f32(w.final_norm);
  layers_.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerTensors& t = w.layers[l];
    Layer& L = layers_[l];
    L.attn_norm = vector_f32(t.attn_norm);
    L.mlp_norm = vector_f32(t.mlp_norm);
    L.wqkv = pack({t.wq, t.wk, t.wv});
    if (t.bq != nullptr) L.bqkv = concat_f32({t.bq, t.bk, t.bv});
    L.q_norm = vector_f32(t.q_norm);
    L.k_norm = vector_f32(t.k_norm);
    L.wo = pack({t.wo});
    L.wgu = pack_interleaved(t.w_gate, t.w_up);
    L.wdown = pack({t.w_down});
    // The packed copies replace these pages: let the kernel drop them.
    for (const TensorView* v : {t.wq, t.wk, t.wv, t.wo, t.w_gate, t.w_up, t.w_down}) v->file->release(v->data, v->nbytes);
  }
  lm_head_ = pack({w.lm_head});
  weights_ = nullptr;
  if (!(w.lm_head == w.embed && embed_in_place)) w.lm_head->file->release(w.lm_head->data, w.lm_head->nbytes);

  inv_freq_ = rope_inv_freq(cfg);  // in double, llama3-scaled when configured
  const int half = cfg.head_dim / 2;
  // cos/sin of every position, computed once (the same double-precision values forward()
  // used to compute per step), when the table is at most 16 MiB.
  const int64_t max_pos = cfg.max_position_embeddings;
  rope_table_.clear();
  if (max_pos > 0 && max_pos * cfg.head_dim <= (int64_t{4} << 20)) {
    rope_table_.resize(static_cast<size_t>(max_pos * cfg.head_dim));
    for (int64_t pos = 0; pos < max_pos; ++pos) {
      float* cs = rope_table_.data() + pos * cfg.head_dim;
      for (int i = 0; i < half; ++i) {
        const double a = static_cast<double>(pos) * inv_freq_[static_cast<size_t>(i)];
        cs[i] = static_cast<float>(std::cos(a));
        cs[half + i] = static_cast<float>(std::sin(a));
      }
    }
  }
  fused_attention_ = cfg.head_dim % kPanel == 0;
  const int64_t qd = static_cast<int64_t>(cfg.num_heads) * cfg.head_dim;
  const int64_t kvd = static_cast<int64_t>(cfg.num_kv_heads) * cfg.head_dim;
  macs_per_token_ = static_cast<int64_t>(cfg.num_layers) * cfg.hidden_size *
                    (qd + 2 * kvd + qd + 3 * static_cast<int64_t>(cfg.intermediate_size));
}

void CpuBackend::init_kv_cache(const KvCacheGeometry& g) {
  geo_ = g;
  k_cache_.clear();
  v_cache_.clear();
  k8_.clear();
  v8_.clear();
  k8_exp_.clear();
  v8_exp_.clear();
  for (int l = 0; l < g.num_layers; ++l) {
    if (kv_fp8_) {
      const size_t rows = static_cast<size_t>(g.slots()) * g.num_kv_heads;
      k8_.emplace_back(static_cast<size_t>(g.layer_elements()));
      v8_.emplace_back(static_cast<size_t>(g.layer_elements()));
      k8_exp_.emplace_back(rows);
      v8_exp_.emplace_back(rows);
    } else {
      k_cache_.emplace_back(static_cast<size_t>(g.layer_elements()));
      v_cache_.emplace_back(static_cast<size_t>(g.layer_elements()));
    }
  }
}

void CpuBackend::reserve(int32_t max_tokens, int32_t max_rows) {
  if (max_tokens > cap_tokens_) {
    const size_t T = static_cast<size_t>(max_tokens);
    const size_t D = static_cast<size_t>(cfg_.hidden_size);
    const size_t qd = static_cast<size_t>(cfg_.num_heads) * cfg_.head_dim;
    const size_t kvd = static_cast<size_t>(cfg_.num_kv_heads) * cfg_.head_dim;
    const size_t I = static_cast<size_t>(cfg_.intermediate_size);
    x_ = AlignedBuffer(T * D);
    xn_ = AlignedBuffer(T * D);
    qkv_ = AlignedBuffer(T * (qd + 2 * kvd));
    attn_ = AlignedBuffer(T * qd);
    gu_ = AlignedBuffer(T * 2 * kPanel * ((I + kPanel - 1) / kPanel));
    h_ = AlignedBuffer(T * I);
    rope_ = AlignedBuffer(T * static_cast<size_t>(cfg_.head_dim));
    cap_tokens_ = max_tokens;
  }
  const size_t priv = static_cast<size_t>(pool_.size()) * kPrivateRows * cfg_.hidden_size;
  if (xn_priv_.size() < priv) xn_priv_ = AlignedBuffer(priv);
  if (max_rows > cap_rows_) {
    xr_ = AlignedBuffer(static_cast<size_t>(max_rows) * cfg_.hidden_size);
    cap_rows_ = max_rows;
  }
  const size_t per_thread = static_cast<size_t>(geo_.block_size + cfg_.head_dim + 16);
  if (att_tmp_.size() < per_thread * pool_.size()) att_tmp_ = AlignedBuffer(per_thread * pool_.size());
  if (kv_fp8_) {
    // Dequantised K/V of one (sequence, kv head) per thread, for prefill rows: the model's
    // context, at most 4096 keys (longer contexts are read in place, or block by block when
    // head_dim % 8 != 0), at least one block. DEEPINFER_DEV_CPU_KV_DEQ_KEYS overrides the 4096
    // (a developer knob: tests set one block to run prefill rows through the long-context path).
    int64_t cap = 4096;
    if (const char* v = std::getenv("DEEPINFER_DEV_CPU_KV_DEQ_KEYS")) cap = std::max<int64_t>(1, std::atoll(v));
    const int64_t ctx = std::min<int64_t>(std::max<int64_t>(cfg_.max_position_embeddings, 1), cap);
    kv_deq_keys_ = static_cast<int>(std::max<int64_t>(ctx, geo_.block_size));
    const size_t need = static_cast<size_t>(pool_.size()) * 2 * kv_deq_keys_ * cfg_.head_dim;
    if (kv_deq_.size() < need) kv_deq_ = AlignedBuffer(need);
  }
}

void CpuBackend::rmsnorm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, float* out) {
  // Rows [0, n) of x (or rows[i] when given) -> out[i]; the caller splits rows across threads.
  const int D = cfg_.hidden_size;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  for (int i = 0; i < n; ++i) {
    const float* xi = x + static_cast<size_t>(rows != nullptr ? rows[i] : i) * ldx;
    const float ms = k_.sum_squares(xi, D) / static_cast<float>(D);
    k_.scale_mul(xi, 1.f / std::sqrt(ms + eps), w, out + static_cast<size_t>(i) * D, D);
  }
}

void CpuBackend::forward(const ForwardBatch& b, float* logits) {
  const int T = b.num_tokens;
  if (T > cap_tokens_ || b.num_logit_rows > cap_rows_) reserve(T, b.num_logit_rows);
  // One pool run per step, its phases separated by barriers; small steps run on the calling
  // thread alone. The thread count never changes results: every output element is computed
  // by the same code in the same order whichever thread owns it (kernels.h).
  int64_t macs = static_cast<int64_t>(T) * macs_per_token_ +
                 static_cast<int64_t>(b.num_logit_rows) * lm_head_.n * lm_head_.k;
  for (int t = 0; t < T; ++t) macs += static_cast<int64_t>(b.positions[t] + 1) * cfg_.num_heads * cfg_.head_dim * 2 * cfg_.num_layers;
  const int nth = (pool_.size() == 1 || macs < serial_macs_) ? 1 : pool_.size();
  if (nth == 1) {
    forward_thread(b, logits, 0, 1);
  } else {
    pool_.run([&](int tid) { forward_thread(b, logits, tid, nth); });
  }
}

void CpuBackend::forward_thread(const ForwardBatch& b, float* logits, int tid, int nth) {
  const int T = b.num_tokens;
  const int D = cfg_.hidden_size, hd = cfg_.head_dim, half = hd / 2;
  const int Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, group = Hq / Hkv;
  const int qd = Hq * hd, kvd = Hkv * hd, nqkv = qd + 2 * kvd, I = cfg_.intermediate_size;
  const int npI = (I + kPanel - 1) / kPanel, ldgu = 2 * kPanel * npI;
  const int bs = geo_.block_size;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  const float att_scale = 1.f / std::sqrt(static_cast<float>(hd));
  float* x = x_.data();
  float* qkv = qkv_.data();
  float* attn = attn_.data();
  float* gu = gu_.data();
  float* h = h_.data();
  float* rope = rope_.data();
  const int max_pos = static_cast<int>(rope_table_.size() / static_cast<size_t>(hd));
  auto sync = [&] {
    if (nth > 1) pool_.barrier();
  };
  // [b, e) of n split evenly over the threads.
  auto range = [&](int64_t n, int64_t* lo, int64_t* hi) {
    *lo = n * tid / nth;
    *hi = n * (tid + 1) / nth;
  };
  // Each thread's own panels of a matmul: every weight byte is read by one thread, once,
  // and applied to all T tokens.
  auto matmul_split = [&](const float* A, int lda, const PackedMatrix& W, float* C, int ldc, bool accumulate) {
    int64_t p0, p1;
    range(W.num_panels(), &p0, &p1);
    if (p0 < p1) matmul_packed(k_, A, lda, T, W, static_cast<int>(p0), static_cast<int>(p1), C, ldc, accumulate);
  };
  // RMSNorm of rows [0, n) of src (rows[] when given) with weight w. Small steps: every thread
  // normalises all rows into its own buffer (no barrier needed). Large steps: the rows are
  // split into the shared buffer, then a barrier. Returns the normed rows.
  float* const my_xn = xn_priv_.data() + static_cast<size_t>(tid) * kPrivateRows * D;
  auto norm = [&](const float* src, const int32_t* rows, int n, const float* w, float* shared) -> const float* {
    if (n <= kPrivateRows) {
      rmsnorm_rows(src, D, rows, n, w, my_xn);
      return my_xn;
    }
    int64_t r0, r1;
    range(n, &r0, &r1);
    if (rows != nullptr) {
      rmsnorm_rows(src, D, rows + r0, static_cast<int>(r1 - r0), w, shared + static_cast<size_t>(r0) * D);
    } else {
      rmsnorm_rows(src + static_cast<size_t>(r0) * D, D, nullptr, static_cast<int>(r1 - r0), w,
                   shared + static_cast<size_t>(r0) * D);
    }
    sync();
    return shared;
  };

  // Embedding rows and the RoPE cos/sin of each token's position (a table lookup when the
  // table covers it), split over tokens.
  {
    int64_t t0, t1;
    range(T, &t0, &t1);
    for (int64_t t = t0; t < t1; ++t) {
      std::memcpy(x + static_cast<size_t>(t) * D, embed_ + static_cast<size_t>(b.token_ids[t]) * D, sizeof(float) * D);
      float* cs = rope + static_cast<size_t>(t) * hd;
      const int pos = b.positions[t];
      if (pos < max_pos) {
        std::memcpy(cs, rope_table_.data() + static_cast<size_t>(pos) * hd, sizeof(float) * hd);
      } else {
        for (int i = 0; i < half; ++i) {
          const double a = static_cast<double>(pos) * inv_freq_[static_cast<size_t>(i)];
          cs[i] = static_cast<float>(std::cos(a));
          cs[half + i] = static_cast<float>(std::sin(a));
        }
      }
    }
  }
  sync();  // x and the RoPE rows of every token are written

  // One layer's K/V: f32 rows, or fp8 bytes and exponents (core/kv_fp8.h).
  struct KvLayer {
    float* k = nullptr;
    float* v = nullptr;
    uint8_t* k8 = nullptr;
    uint8_t* v8 = nullptr;
    int8_t* ke = nullptr;
    int8_t* ve = nullptr;
  };
  // Bias, q/k norm, RoPE (rotate-half) for heads [h0, h1) of token t (h < Hq: query heads,
  // h >= Hq: key heads; value heads [Hq + Hkv, ...) only get their bias), then the token's
  // K/V rows of kv heads [g0, g1) into its cache slot.
  auto post_qkv = [&](const Layer& L, int t, int q0, int q1, int g0, int g1, const KvLayer& kv) {
    float* row = qkv + static_cast<size_t>(t) * nqkv;
    if (L.bqkv != nullptr) {
      for (int i = q0 * hd; i < q1 * hd; ++i) row[i] += L.bqkv[i];
      for (int i = qd + g0 * hd; i < qd + g1 * hd; ++i) row[i] += L.bqkv[i];
      for (int i = qd + kvd + g0 * hd; i < qd + kvd + g1 * hd; ++i) row[i] += L.bqkv[i];
    }
    const float* cs = rope + static_cast<size_t>(t) * hd;
    auto rot = [&](float* v, const float* nw) {
      if (nw != nullptr) {
        const float ms = k_.sum_squares(v, hd) / static_cast<float>(hd);
        k_.scale_mul(v, 1.f / std::sqrt(ms + eps), nw, v, hd);
      }
      for (int i = 0; i < half; ++i) {
        const float x1 = v[i], x2 = v[half + i];
        v[i] = x1 * cs[i] - x2 * cs[half + i];
        v[half + i] = x2 * cs[i] + x1 * cs[half + i];
      }
    };
    for (int hh = q0; hh < q1; ++hh) rot(row + static_cast<size_t>(hh) * hd, L.q_norm);
    for (int hh = g0; hh < g1; ++hh) rot(row + qd + static_cast<size_t>(hh) * hd, L.k_norm);
    const SeqSpan& s = b.seqs[b.token_seq[t]];
    const int pos = b.positions[t];
    const int64_t slot = static_cast<int64_t>(s.block_table[pos / bs]) * bs + pos % bs;
    if (kv.k8 != nullptr) {
      for (int g = g0; g < g1; ++g) {
        const int64_t r = slot * Hkv + g;  // row of (slot, kv head)
        kv.ke[r] = kv_fp8_quantize_row(row + qd + g * hd, hd, kv.k8 + r * hd);
        kv.ve[r] = kv_fp8_quantize_row(row + qd + kvd + g * hd, hd, kv.v8 + r * hd);
      }
      return;
    }
    std::memcpy(kv.k + slot * kvd + g0 * hd, row + qd + g0 * hd, sizeof(float) * (g1 - g0) * hd);
    std::memcpy(kv.v + slot * kvd + g0 * hd, row + qd + kvd + g0 * hd, sizeof(float) * (g1 - g0) * hd);
  };

  // Attention of token t, query head hq, over its sequence's blocks: causal, online softmax
  // one block at a time (scores of up to 8 keys per vector pass, V rows accumulated in
  // registers). The order depends only on (t's position, hq): batch-invariant.
  float* const scores = att_tmp_.data() + static_cast<size_t>(bs + hd + 16) * tid;
  // fp8 K/V are read one of two ways, which give the same bits (kernels.h), so the choice
  // never changes results:
  //  - in place (attn_scores_e4m3 / attn_accum_e4m3: the bytes converted in registers, nothing
  //    written back) for a sequence with one row in the step (decode), where each key is used
  //    by one query row per head, and for contexts longer than the scratch;
  //  - for a sequence with several rows (prefill), the K and V rows of one (sequence, kv head)
  //    are dequantised (e4m3(byte) * 2^e) into this thread's scratch once, keys [0, n)
  //    contiguous with row stride hd, grown as later rows of the same sequence need more, and
  //    the f32 kernels run on the scratch: each key converted once, not once per query row.
  //    The attention loops visit (head, token) head-major so one thread's consecutive rows
  //    share a sequence and head.
  // Head sizes the vector kernels cannot read in place (hd % 8 != 0) dequantise block by
  // block instead of in place.
  struct DeqCache {
    const uint8_t* layer = nullptr;
    int seq = -1, kvh = -1, n = 0;
  } deq;
  float* const k_all = kv_fp8_ ? kv_deq_.data() + static_cast<size_t>(tid) * 2 * kv_deq_keys_ * hd : nullptr;
  float* const v_all = kv_fp8_ ? k_all + static_cast<size_t>(kv_deq_keys_) * hd : nullptr;
  const bool fp8_in_place = hd % 8 == 0;
  auto dequant_rows = [&](const uint8_t* q, const int8_t* e, int n, float* dst) {
    for (int j = 0; j < n; ++j) {
      const uint8_t* qj = q + static_cast<size_t>(j) * kvd;
      const float sc = kv_fp8_pow2(e[static_cast<size_t>(j) * Hkv]);
      k_.dequant_e4m3(qj, sc, hd, dst + static_cast<size_t>(j) * hd);
    }
  };
  // Dequantises keys [deq.n, n_keys) of (sequence s, head kvh) into k_all / v_all.
  auto dequant_upto = [&](const KvLayer& kv, const SeqSpan& s, int kvh, int n_keys) {
    while (deq.n < n_keys) {
      const int blk = deq.n / bs, j0 = deq.n % bs;
      const int cnt = bs - j0 < n_keys - deq.n ? bs - j0 : n_keys - deq.n;
      const size_t slot = static_cast<size_t>(s.block_table[blk]) * bs + j0;
      const size_t base = slot * kvd + static_cast<size_t>(kvh) * hd, r0 = slot * Hkv + static_cast<size_t>(kvh);
      dequant_rows(kv.k8 + base, kv.ke + r0, cnt, k_all + static_cast<size_t>(deq.n) * hd);
      dequant_rows(kv.v8 + base, kv.ve + r0, cnt, v_all + static_cast<size_t>(deq.n) * hd);
      deq.n += cnt;
    }
  };
  auto attend = [&](int t, int hq, const KvLayer& kv) {
    const int kvh = hq / group;
    const float* q = qkv + static_cast<size_t>(t) * nqkv + static_cast<size_t>(hq) * hd;
    float* out = attn + static_cast<size_t>(t) * qd + static_cast<size_t>(hq) * hd;
    std::memset(out, 0, sizeof(float) * hd);
    const SeqSpan& s = b.seqs[b.token_seq[t]];
    const int n_keys = b.positions[t] + 1;
    const bool fp8 = kv.k8 != nullptr;
    const bool from_scratch = fp8 && n_keys <= kv_deq_keys_ && (s.num_tokens > 1 || !fp8_in_place);
    const bool in_place = fp8 && !from_scratch && fp8_in_place;
    if (from_scratch) {
      if (deq.layer != kv.k8 || deq.seq != b.token_seq[t] || deq.kvh != kvh) {
        deq = DeqCache();
        deq.layer = kv.k8;
        deq.seq = b.token_seq[t];
        deq.kvh = kvh;
      }
      dequant_upto(kv, s, kvh, n_keys);
    }
    float m = -std::numeric_limits<float>::infinity();
    float sum = 0.f;
    for (int blk = 0; blk * bs < n_keys; ++blk) {
      const int nb = n_keys - blk * bs < bs ? n_keys - blk * bs : bs;
      const size_t slot0 = static_cast<size_t>(s.block_table[blk]) * bs;
      const size_t base = slot0 * kvd + static_cast<size_t>(kvh) * hd;
      const size_t r0 = slot0 * Hkv + static_cast<size_t>(kvh);  // fp8: the block's first exponent
      // f32 rows of this block (unless read in place): the cache, the scratch, or this block
      // alone dequantised at the scratch's start.
      const float* kb = kv.k + (kv.k != nullptr ? base : 0);
      const float* vb = kv.v + (kv.v != nullptr ? base : 0);
      size_t stride = static_cast<size_t>(kvd);
      if (from_scratch) {
        stride = static_cast<size_t>(hd);
        kb = k_all + static_cast<size_t>(blk) * bs * hd;
        vb = v_all + static_cast<size_t>(blk) * bs * hd;
      } else if (fp8 && !in_place) {
        deq = DeqCache();
        stride = static_cast<size_t>(hd);
        dequant_rows(kv.k8 + base, kv.ke + r0, nb, k_all);
        dequant_rows(kv.v8 + base, kv.ve + r0, nb, v_all);
        kb = k_all;
        vb = v_all;
      }
      if (in_place && (blk + 1) * bs < n_keys) {
        // The next block's rows and exponents, requested now so they arrive while this block
        // is computed: a decode row reads each of them once, from memory (a 545-key context
        // over 12 layers is ~10 MB per row), in short strided runs per head that the hardware
        // prefetchers pick up late.
        const int nn = n_keys - (blk + 1) * bs < bs ? n_keys - (blk + 1) * bs : bs;
        const size_t slot1 = static_cast<size_t>(s.block_table[blk + 1]) * bs;
        const size_t base1 = slot1 * kvd + static_cast<size_t>(kvh) * hd, r1 = slot1 * Hkv + static_cast<size_t>(kvh);
        for (int j = 0; j < nn; ++j) {
          for (int c = 0; c < hd; c += 64) {
            __builtin_prefetch(kv.k8 + base1 + static_cast<size_t>(j) * kvd + c);
            __builtin_prefetch(kv.v8 + base1 + static_cast<size_t>(j) * kvd + c);
          }
        }
        for (size_t o = 0; o < static_cast<size_t>(nn) * Hkv; o += 64) {
          __builtin_prefetch(kv.ke + r1 + o);
          __builtin_prefetch(kv.ve + r1 + o);
        }
      }
      if (in_place) {
        k_.attn_scores_e4m3(q, kv.k8 + base, kv.ke + r0, static_cast<size_t>(kvd), static_cast<size_t>(Hkv), nb, hd,
                            att_scale, scores);
      } else {
        k_.attn_scores(q, kb, stride, nb, hd, att_scale, scores);
      }
      float mb = -std::numeric_limits<float>::infinity();
      for (int j = 0; j < nb; ++j) mb = scores[j] > mb ? scores[j] : mb;
      if (mb > m) {
        if (sum > 0.f) {
          const float corr = std::exp(m - mb);
          sum *= corr;
          k_.scale(out, corr, hd);
        }
        m = mb;
      }
      sum += k_.exp_sub_sum(scores, m, nb);
      if (in_place) {
        k_.attn_accum_e4m3(scores, kv.v8 + base, kv.ve + r0, static_cast<size_t>(kvd), static_cast<size_t>(Hkv), nb, hd,
                           out);
      } else {
        k_.attn_accum(scores, vb, stride, nb, hd, out);
      }
    }
    k_.scale(out, 1.f / sum, hd);
  };

  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    KvLayer kv;
    if (kv_fp8_) {
      kv.k8 = k8_[l].data();
      kv.v8 = v8_[l].data();
      kv.ke = k8_exp_[l].data();
      kv.ve = v8_exp_[l].data();
    } else {
      kv.k = k_cache_[l].data();
      kv.v = v_cache_[l].data();
    }

    const float* xa = norm(x, nullptr, T, L.attn_norm, xn_.data());
    if (fused_attention_ && Hkv >= nth) {
      // This thread owns kv heads [g0, g1) and their query heads: it computes their q/k/v
      // rows (three panel ranges; head_dim is a whole number of panels), RoPE, the K/V
      // cache rows, and their attention, for every token. Other threads only touch other
      // heads, so no barrier is needed until the output projection.
      const int g0 = Hkv * tid / nth, g1 = Hkv * (tid + 1) / nth;
      const int pph = hd / kPanel;
      const PackedMatrix& W = L.wqkv;
      if (g0 < g1) {
        matmul_packed(k_, xa, D, T, W, g0 * group * pph, g1 * group * pph, qkv, nqkv, false);
        matmul_packed(k_, xa, D, T, W, (qd + g0 * hd) / kPanel, (qd + g1 * hd) / kPanel, qkv, nqkv, false);
        matmul_packed(k_, xa, D, T, W, (qd + kvd + g0 * hd) / kPanel, (qd + kvd + g1 * hd) / kPanel, qkv, nqkv, false);
        for (int t = 0; t < T; ++t) post_qkv(L, t, g0 * group, g1 * group, g0, g1, kv);
        for (int hq = g0 * group; hq < g1 * group; ++hq)
          for (int t = 0; t < T; ++t) attend(t, hq, kv);
      }
    } else {
      matmul_split(xa, D, L.wqkv, qkv, nqkv, false);
      sync();
      int64_t t0, t1;
      range(T, &t0, &t1);
      for (int64_t t = t0; t < t1; ++t) post_qkv(L, static_cast<int>(t), 0, Hq, 0, Hkv, kv);
      sync();
      int64_t i0, i1;
      range(static_cast<int64_t>(T) * Hq, &i0, &i1);
      for (int64_t it = i0; it < i1; ++it) attend(static_cast<int>(it % T), static_cast<int>(it / T), kv);
    }
    sync();  // attention rows of every head are written

    matmul_split(attn, qd, L.wo, x, D, true);  // x += attn @ Wo^T
    sync();
    const float* xm = norm(x, nullptr, T, L.mlp_norm, xn_.data());
    {
      // Gate/up panel pairs of this thread, then h = silu(gate) * up for those 16 columns.
      int64_t r0, r1;
      range(npI, &r0, &r1);
      if (r0 < r1) {
        matmul_packed(k_, xm, D, T, L.wgu, static_cast<int>(2 * r0), static_cast<int>(2 * r1), gu, ldgu, false);
        for (int t = 0; t < T; ++t) {
          const float* g = gu + static_cast<size_t>(t) * ldgu;
          float* ht = h + static_cast<size_t>(t) * I;
          for (int64_t pr = r0; pr < r1; ++pr) {
            const int c0 = static_cast<int>(pr) * kPanel;
            const int cols = I - c0 < kPanel ? I - c0 : kPanel;
            k_.silu_mul(g + 2 * c0, g + 2 * c0 + kPanel, ht + c0, cols);
          }
        }
      }
    }
    sync();
    matmul_split(h, I, L.wdown, x, D, true);  // x += h @ Wdown^T
    sync();
  }

  // Logits only for the rows that sample.
  const int R = b.num_logit_rows;
  if (R == 0) return;
  const float* xr = norm(x, b.logit_rows, R, final_norm_, xr_.data());
  int64_t p0, p1;
  range(lm_head_.num_panels(), &p0, &p1);
  if (p0 < p1) matmul_packed(k_, xr, D, R, lm_head_, static_cast<int>(p0), static_cast<int>(p1), logits, cfg_.vocab_size, false);
}

}  // namespace cpu
}  // namespace deepinfer
