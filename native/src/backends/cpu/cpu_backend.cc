#include "backends/cpu/cpu_backend.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "core/error.h"

namespace deepinfer {
namespace cpu {

AlignedBuffer::AlignedBuffer(size_t n) : n_(n) {
  if (n == 0) return;
  void* p = nullptr;
  size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  if (posix_memalign(&p, 64, bytes) != 0) throw std::bad_alloc();
  p_ = static_cast<float*>(p);
}

AlignedBuffer::~AlignedBuffer() { std::free(p_); }

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

namespace {

// Element i of a tensor as f32.
inline float load_elem(const TensorView& t, size_t i) {
  switch (t.dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, t.data + i * 4, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, t.data + i * 2, 2);
      return bf16_to_f32(h);
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, t.data + i * 2, 2);
      return f16_to_f32(h);
    }
  }
  return 0.f;
}

}  // namespace

CpuBackend::CpuBackend(int num_threads) : k_(kernels()), pool_(num_threads) {
  name_ = std::string("cpu-") + k_.name;
}

CpuBackend::~CpuBackend() = default;

PackedMatrix CpuBackend::pack(const std::vector<const TensorView*>& parts) {
  PackedMatrix m;
  m.k = static_cast<int>(parts[0]->shape[1]);
  std::vector<std::pair<const TensorView*, int>> row_src;  // per output row: (tensor, row)
  for (const TensorView* t : parts) {
    for (int64_t r = 0; r < t->shape[0]; ++r) row_src.emplace_back(t, static_cast<int>(r));
  }
  m.n = static_cast<int>(row_src.size());
  const int np = m.num_panels();
  AlignedBuffer buf(static_cast<size_t>(np) * m.k * kPanel);
  m.data = buf.data();
  const int K = m.k;
  pool_.parallel_for(np, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = m.data + static_cast<size_t>(p) * K * kPanel;
      for (int j = 0; j < kPanel; ++j) {
        const int64_t n = p * kPanel + j;
        if (n >= m.n) {
          for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = 0.f;
          continue;
        }
        const TensorView& t = *row_src[static_cast<size_t>(n)].first;
        const size_t base = static_cast<size_t>(row_src[static_cast<size_t>(n)].second) * K;
        if (t.dtype == DType::kF32) {
          const float* src = reinterpret_cast<const float*>(t.data) + base;  // safetensors data is 4-aligned in practice
          for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = src[k];
        } else {
          for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kPanel + j] = load_elem(t, base + k);
        }
      }
    }
  });
  packed_bytes_ += static_cast<int64_t>(buf.size()) * 4;
  weight_bytes_ += static_cast<int64_t>(buf.size()) * 4;
  owned_.push_back(std::move(buf));
  return m;
}

const float* CpuBackend::concat_f32(const std::vector<const TensorView*>& parts) {
  size_t n = 0;
  for (const TensorView* t : parts) n += static_cast<size_t>(t->numel());
  AlignedBuffer buf(n);
  size_t o = 0;
  for (const TensorView* t : parts) {
    for (int64_t i = 0; i < t->numel(); ++i) buf.data()[o++] = load_elem(*t, static_cast<size_t>(i));
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
  const bool embed_in_place = w.embed->dtype == DType::kF32 &&
                              reinterpret_cast<uintptr_t>(w.embed->data) % alignof(float) == 0;
  if (embed_in_place) {
    embed_ = reinterpret_cast<const float*>(w.embed->data);
    weight_bytes_ += static_cast<int64_t>(w.embed->nbytes);
  } else {
    embed_ = vector_f32(w.embed);
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
    L.wgu = pack({t.w_gate, t.w_up});
    L.wdown = pack({t.w_down});
    // The packed copies replace these pages: let the kernel drop them.
    for (const TensorView* v : {t.wq, t.wk, t.wv, t.wo, t.w_gate, t.w_up, t.w_down}) v->file->release(v->data, v->nbytes);
  }
  lm_head_ = pack({w.lm_head});
  if (!(w.lm_head == w.embed && embed_in_place)) w.lm_head->file->release(w.lm_head->data, w.lm_head->nbytes);

  // RoPE inverse frequencies, in double (as the HF code computes them, then llama3-scaled).
  const int half = cfg.head_dim / 2;
  inv_freq_.resize(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(cfg.rope_theta, (2.0 * i) / cfg.head_dim);
    if (cfg.rope_scaling.enabled) {
      const auto& rs = cfg.rope_scaling;
      const double old_len = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = old_len / rs.low_freq_factor;
      const double high_wavelen = old_len / rs.high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = f / rs.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - smooth) * f / rs.factor + smooth * f;
      }
    }
    inv_freq_[static_cast<size_t>(i)] = f;
  }
}

void CpuBackend::init_kv_cache(const KvCacheGeometry& g) {
  geo_ = g;
  k_cache_.clear();
  v_cache_.clear();
  for (int l = 0; l < g.num_layers; ++l) {
    k_cache_.emplace_back(static_cast<size_t>(g.layer_elements()));
    v_cache_.emplace_back(static_cast<size_t>(g.layer_elements()));
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
    gu_ = AlignedBuffer(T * 2 * I);
    h_ = AlignedBuffer(T * I);
    rope_ = AlignedBuffer(T * static_cast<size_t>(cfg_.head_dim));
    cap_tokens_ = max_tokens;
  }
  if (max_rows > cap_rows_) {
    xr_ = AlignedBuffer(static_cast<size_t>(max_rows) * cfg_.hidden_size);
    cap_rows_ = max_rows;
  }
  const size_t per_thread = static_cast<size_t>(geo_.block_size + cfg_.head_dim + 16);
  if (att_tmp_.size() < per_thread * pool_.size()) att_tmp_ = AlignedBuffer(per_thread * pool_.size());
}

void CpuBackend::rmsnorm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, float* out) {
  const int D = cfg_.hidden_size;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  pool_.parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* xi = x + static_cast<size_t>(rows != nullptr ? rows[i] : i) * ldx;
      const float ms = k_.sum_squares(xi, D) / static_cast<float>(D);
      k_.scale_mul(xi, 1.f / std::sqrt(ms + eps), w, out + static_cast<size_t>(i) * D, D);
    }
  }, static_cast<int64_t>(n) * D * 2);
}

void CpuBackend::forward(const ForwardBatch& b, float* logits) {
  const int T = b.num_tokens;
  if (T > cap_tokens_ || b.num_logit_rows > cap_rows_) reserve(T, b.num_logit_rows);
  const int D = cfg_.hidden_size, hd = cfg_.head_dim, half = hd / 2;
  const int Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, group = Hq / Hkv;
  const int qd = Hq * hd, kvd = Hkv * hd, nqkv = qd + 2 * kvd, I = cfg_.intermediate_size;
  const int bs = geo_.block_size;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  const float att_scale = 1.f / std::sqrt(static_cast<float>(hd));
  float* x = x_.data();
  float* xn = xn_.data();
  float* qkv = qkv_.data();
  float* attn = attn_.data();
  float* gu = gu_.data();
  float* h = h_.data();
  float* rope = rope_.data();

  // Embedding rows and the RoPE cos/sin of each token's position (shared by all layers).
  pool_.parallel_for(T, [&](int64_t b0, int64_t e0) {
    for (int64_t t = b0; t < e0; ++t) {
      std::memcpy(x + static_cast<size_t>(t) * D, embed_ + static_cast<size_t>(b.token_ids[t]) * D,
                  sizeof(float) * D);
      float* cs = rope + static_cast<size_t>(t) * hd;
      for (int i = 0; i < half; ++i) {
        const double a = static_cast<double>(b.positions[t]) * inv_freq_[static_cast<size_t>(i)];
        cs[i] = static_cast<float>(std::cos(a));
        cs[half + i] = static_cast<float>(std::sin(a));
      }
    }
  }, static_cast<int64_t>(T) * (D + 32 * hd));

  // Each matmul splits the output panels across threads: every weight panel is read by one
  // thread, once, and applied to all T tokens.
  auto matmul = [&](const float* A, int lda, const PackedMatrix& W, float* C, int ldc, bool accumulate) {
    const int np = W.num_panels();
    pool_.parallel_for(np, [&](int64_t p0, int64_t p1) {
      k_.matmul(A, lda, T, W, static_cast<int>(p0), static_cast<int>(p1), C, ldc, accumulate);
    }, static_cast<int64_t>(T) * W.n * W.k);
  };

  int64_t attention_work = 0;  // multiply-adds: 2 * hd per (token, head, key)
  for (int t = 0; t < T; ++t) attention_work += static_cast<int64_t>(b.positions[t] + 1) * Hq * hd * 2;

  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    float* kc = k_cache_[l].data();
    float* vc = v_cache_[l].data();

    rmsnorm_rows(x, D, nullptr, T, L.attn_norm, xn);
    matmul(xn, D, L.wqkv, qkv, nqkv, false);

    // Per token: bias, q/k norm, RoPE (rotate-half), then K/V into the token's cache slot.
    pool_.parallel_for(T, [&](int64_t b0, int64_t e0) {
      for (int64_t t = b0; t < e0; ++t) {
        float* row = qkv + static_cast<size_t>(t) * nqkv;
        if (L.bqkv != nullptr) {
          for (int i = 0; i < nqkv; ++i) row[i] += L.bqkv[i];
        }
        const float* cs = rope + static_cast<size_t>(t) * hd;
        for (int hh = 0; hh < Hq + Hkv; ++hh) {
          float* v = row + static_cast<size_t>(hh) * hd;  // q heads, then k heads
          const float* nw = hh < Hq ? L.q_norm : L.k_norm;
          if (nw != nullptr) {
            const float ms = k_.sum_squares(v, hd) / static_cast<float>(hd);
            k_.scale_mul(v, 1.f / std::sqrt(ms + eps), nw, v, hd);
          }
          for (int i = 0; i < half; ++i) {
            const float x1 = v[i], x2 = v[half + i];
            v[i] = x1 * cs[i] - x2 * cs[half + i];
            v[half + i] = x2 * cs[i] + x1 * cs[half + i];
          }
        }
        const SeqSpan& s = b.seqs[b.token_seq[t]];
        const int pos = b.positions[t];
        const int64_t slot = static_cast<int64_t>(s.block_table[pos / bs]) * bs + pos % bs;
        std::memcpy(kc + slot * kvd, row + qd, sizeof(float) * kvd);
        std::memcpy(vc + slot * kvd, row + qd + kvd, sizeof(float) * kvd);
      }
    }, static_cast<int64_t>(T) * (nqkv + 8 * (Hq + Hkv) * hd));

    // Attention per (token, query head) over the sequence's blocks, causal, online softmax
    // one block at a time.
    const size_t tmp_stride = static_cast<size_t>(bs + hd + 16);
    pool_.parallel_for_indexed(static_cast<int64_t>(T) * Hq, [&](int ti, int64_t i0, int64_t i1) {
      float* scores = att_tmp_.data() + tmp_stride * ti;  // [bs]
      for (int64_t it = i0; it < i1; ++it) {
        const int t = static_cast<int>(it / Hq), hq = static_cast<int>(it % Hq);
        const int kvh = hq / group;
        const float* q = qkv + static_cast<size_t>(t) * nqkv + static_cast<size_t>(hq) * hd;
        float* out = attn + static_cast<size_t>(t) * qd + static_cast<size_t>(hq) * hd;
        std::memset(out, 0, sizeof(float) * hd);
        const SeqSpan& s = b.seqs[b.token_seq[t]];
        const int n_keys = b.positions[t] + 1;
        float m = -std::numeric_limits<float>::infinity();
        float sum = 0.f;
        for (int blk = 0; blk * bs < n_keys; ++blk) {
          const int nb = n_keys - blk * bs < bs ? n_keys - blk * bs : bs;
          const size_t base = (static_cast<size_t>(s.block_table[blk]) * bs) * kvd + static_cast<size_t>(kvh) * hd;
          float mb = -std::numeric_limits<float>::infinity();
          for (int j = 0; j < nb; ++j) {
            scores[j] = k_.dot(q, kc + base + static_cast<size_t>(j) * kvd, hd) * att_scale;
            if (scores[j] > mb) mb = scores[j];
          }
          if (mb > m) {
            if (sum > 0.f) {
              const float corr = std::exp(m - mb);
              sum *= corr;
              k_.scale(out, corr, hd);
            }
            m = mb;
          }
          sum += k_.exp_sub_sum(scores, m, nb);
          for (int j = 0; j < nb; ++j) k_.axpy(scores[j], vc + base + static_cast<size_t>(j) * kvd, out, hd);
        }
        k_.scale(out, 1.f / sum, hd);
      }
    }, attention_work);

    matmul(attn, qd, L.wo, x, D, true);  // x += attn @ Wo^T
    rmsnorm_rows(x, D, nullptr, T, L.mlp_norm, xn);
    matmul(xn, D, L.wgu, gu, 2 * I, false);
    pool_.parallel_for(T, [&](int64_t b0, int64_t e0) {
      for (int64_t t = b0; t < e0; ++t) {
        const float* g = gu + static_cast<size_t>(t) * 2 * I;
        k_.silu_mul(g, g + I, h + static_cast<size_t>(t) * I, I);
      }
    }, static_cast<int64_t>(T) * I * 16);
    matmul(h, I, L.wdown, x, D, true);  // x += h @ Wdown^T
  }

  // Logits only for the rows that sample.
  const int R = b.num_logit_rows;
  if (R == 0) return;
  rmsnorm_rows(x, D, b.logit_rows, R, final_norm_, xr_.data());
  const int np = lm_head_.num_panels();
  pool_.parallel_for(np, [&](int64_t p0, int64_t p1) {
    k_.matmul(xr_.data(), D, R, lm_head_, static_cast<int>(p0), static_cast<int>(p1), logits, cfg_.vocab_size, false);
  }, static_cast<int64_t>(R) * lm_head_.n * lm_head_.k);
}

}  // namespace cpu
}  // namespace deepinfer
