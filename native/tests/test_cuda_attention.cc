// The attention kernels of the CUDA backend, each variant against a double-precision reference
// on the host: random q (f32), random K/V in the cache type behind scrambled block tables,
// prefill tiles with and without earlier context (prefix-cache hits, chunked prefill), decode
// rows with contexts on both sides of every split-K boundary. Skipped (exit 77) without a GPU.
// A kind asked for on a shape it does not take runs its fallback (kernels.h: mma -> fma for
// prefill, mma -> tiled -> warp for decode), so such lines repeat the fallback's result.
//
// Tolerance: absolute, on outputs that are convex combinations of V rows (|V| <= 1): 2e-2 for
// bf16 (output rounding 2^-9, tensor-core paths also round P to bf16), 4e-3 for f16, 1e-5
// for f32.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "backends/cuda/kernels.h"
#include "backends/cuda/step_plan.h"
#include "core/tensor_elem.h"
#include "test_util.h"

using namespace ditest;
using deepinfer::cuda::AttnParams;
using deepinfer::cuda::DecodeAttn;
using deepinfer::cuda::Dt;
using deepinfer::cuda::PrefillAttn;
using deepinfer::cuda::StepPlan;

namespace {

struct SeqShape {
  int start_pos;   // context already in the cache
  int num_tokens;  // rows of this step
};

struct Shape {
  int Hq, Hkv, hd, block_size;
  Dt dt;
};

const char* dt_str(Dt d) { return deepinfer::cuda::dt_name(d); }

// Rounds v to the storage type and back (what the cache holds).
float round_to(Dt dt, float v) {
  if (dt == Dt::kBF16) return deepinfer::bf16_to_f32(deepinfer::f32_to_bf16(v));
  if (dt == Dt::kF16) return deepinfer::f16_to_f32(deepinfer::f32_to_f16(v));
  return v;
}

template <class T>
T* device_copy(const std::vector<T>& h) {
  T* d = nullptr;
  cudaMalloc(&d, std::max<size_t>(h.size(), 1) * sizeof(T));
  if (!h.empty()) cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}

// One step of several sequences: random inputs, the plan, device buffers and the reference.
class AttentionCase {
 public:
  AttentionCase(const Shape& sh, const std::vector<SeqShape>& seqs, int decode_threshold, uint64_t seed) : sh_(sh) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    const int bs = sh.block_size, hd = sh.hd;
    nqkv_ = (sh.Hq + 2 * sh.Hkv) * hd;
    // Block tables: every sequence gets its blocks from one shuffled pool, so tables are
    // scrambled and disjoint.
    int total_blocks = 0;
    for (const SeqShape& s : seqs) total_blocks += (s.start_pos + s.num_tokens + bs - 1) / bs;
    std::vector<int32_t> pool(static_cast<size_t>(total_blocks));
    for (int i = 0; i < total_blocks; ++i) pool[static_cast<size_t>(i)] = i;
    std::shuffle(pool.begin(), pool.end(), g);
    num_slots_ = static_cast<int64_t>(total_blocks) * bs;
    const size_t row = static_cast<size_t>(sh.Hkv) * hd;
    k_.assign(static_cast<size_t>(num_slots_) * row, 0.f);
    v_.assign(static_cast<size_t>(num_slots_) * row, 0.f);
    int T = 0, next_block = 0;
    tables_.resize(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const SeqShape& s = seqs[i];
      const int n_ctx = s.start_pos + s.num_tokens;
      for (int b = 0; b < (n_ctx + bs - 1) / bs; ++b) tables_[i].push_back(pool[static_cast<size_t>(next_block++)]);
      for (int p = 0; p < n_ctx; ++p) {
        const int64_t slot = static_cast<int64_t>(tables_[i][static_cast<size_t>(p / bs)]) * bs + p % bs;
        for (size_t e = 0; e < row; ++e) {
          k_[static_cast<size_t>(slot) * row + e] = round_to(sh.dt, u(g));
          v_[static_cast<size_t>(slot) * row + e] = round_to(sh.dt, u(g));
        }
      }
      spans_.push_back({T, s.num_tokens, s.start_pos, nullptr, static_cast<int32_t>(tables_[i].size())});
      for (int j = 0; j < s.num_tokens; ++j) {
        positions_.push_back(s.start_pos + j);
        token_seq_.push_back(static_cast<int32_t>(i));
      }
      T += s.num_tokens;
    }
    for (size_t i = 0; i < seqs.size(); ++i) spans_[i].block_table = tables_[i].data();
    T_ = T;
    qkv_.resize(static_cast<size_t>(T) * nqkv_);
    for (float& x : qkv_) x = 2.f * u(g);  // scores of a few units: softmax neither flat nor one-hot
    tokens_.assign(static_cast<size_t>(T), 0);
    deepinfer::ForwardBatch b;
    b.num_tokens = T;
    b.token_ids = tokens_.data();
    b.positions = positions_.data();
    b.token_seq = token_seq_.data();
    b.num_seqs = static_cast<int32_t>(spans_.size());
    b.seqs = spans_.data();
    deepinfer::cuda::build_step_plan(b, bs, &plan_, decode_threshold);
  }

  int rows() const { return T_; }
  const StepPlan& plan() const { return plan_; }

  // out[t][h][d] in double: softmax(q k^T / sqrt(hd)) v over keys [0, position(t)].
  std::vector<float> reference() const {
    const int hd = sh_.hd, G = sh_.Hq / sh_.Hkv, bs = sh_.block_size;
    std::vector<float> out(static_cast<size_t>(T_) * sh_.Hq * hd, 0.f);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    for (size_t si = 0; si < spans_.size(); ++si) {
      const deepinfer::SeqSpan& s = spans_[si];
      for (int j = 0; j < s.num_tokens; ++j) {
        const int t = s.token_offset + j, pos = s.start_pos + j;
        for (int h = 0; h < sh_.Hq; ++h) {
          const int kh = h / G;
          const float* q = &qkv_[static_cast<size_t>(t) * nqkv_ + static_cast<size_t>(h) * hd];
          std::vector<double> sc(static_cast<size_t>(pos + 1));
          double mx = -1e300;
          for (int p = 0; p <= pos; ++p) {
            const int64_t slot = static_cast<int64_t>(tables_[si][static_cast<size_t>(p / bs)]) * bs + p % bs;
            const float* k = &k_[(static_cast<size_t>(slot) * sh_.Hkv + kh) * hd];
            double d = 0;
            for (int e = 0; e < hd; ++e) d += static_cast<double>(q[e]) * k[e];
            sc[static_cast<size_t>(p)] = d * scale;
            mx = std::max(mx, d * scale);
          }
          double den = 0;
          for (double& x : sc) den += (x = std::exp(x - mx));
          float* o = &out[(static_cast<size_t>(t) * sh_.Hq + h) * hd];
          for (int e = 0; e < hd; ++e) {
            double acc = 0;
            for (int p = 0; p <= pos; ++p) {
              const int64_t slot = static_cast<int64_t>(tables_[si][static_cast<size_t>(p / bs)]) * bs + p % bs;
              acc += sc[static_cast<size_t>(p)] * v_[(static_cast<size_t>(slot) * sh_.Hkv + kh) * hd + e];
            }
            o[e] = static_cast<float>(acc / den);
          }
        }
      }
    }
    return out;
  }

  // Runs the prefill tiles (kind) or the decode rows (decode_kind) of the plan on the GPU.
  std::vector<float> run(bool prefill, PrefillAttn kind, DecodeAttn decode_kind) const {
    const size_t es = static_cast<size_t>(deepinfer::cuda::dt_size(sh_.dt));
    auto to_dt = [&](const std::vector<float>& f) {
      std::vector<uint8_t> bytes(f.size() * es);
      for (size_t i = 0; i < f.size(); ++i) {
        if (sh_.dt == Dt::kF32) {
          std::memcpy(&bytes[i * 4], &f[i], 4);
        } else {
          const uint16_t h = sh_.dt == Dt::kBF16 ? deepinfer::f32_to_bf16(f[i]) : deepinfer::f32_to_f16(f[i]);
          std::memcpy(&bytes[i * 2], &h, 2);
        }
      }
      return bytes;
    };
    float* d_qkv = device_copy(qkv_);
    uint8_t* d_k = device_copy(to_dt(k_));
    uint8_t* d_v = device_copy(to_dt(v_));
    int32_t* d_bt = device_copy(plan_.block_tables);
    const size_t n_out = static_cast<size_t>(T_) * sh_.Hq * sh_.hd;
    void* d_out = nullptr;
    cudaMalloc(&d_out, n_out * es);
    cudaMemset(d_out, 0, n_out * es);
    AttnParams a;
    a.qkv = d_qkv;
    a.nqkv = nqkv_;
    a.Hq = sh_.Hq;
    a.Hkv = sh_.Hkv;
    a.hd = sh_.hd;
    a.block_size = sh_.block_size;
    a.scale = 1.f / std::sqrt(static_cast<float>(sh_.hd));
    a.k_cache = d_k;
    a.v_cache = d_v;
    a.dt = sh_.dt;
    a.block_tables = d_bt;
    a.out = d_out;
    std::string err;
    try {
      if (prefill) {
        auto* d_tiles = device_copy(plan_.prefill_tiles);
        deepinfer::cuda::launch_attention_prefill(a, d_tiles, static_cast<int>(plan_.prefill_tiles.size()), kind,
                                                  nullptr);
        cudaDeviceSynchronize();
        cudaFree(d_tiles);
      } else {
        const int n = static_cast<int>(plan_.decode_rows.size());
        const size_t parts = static_cast<size_t>(n) * sh_.Hq * deepinfer::cuda::kDecodeMaxParts;
        float *o_part = nullptr, *ml_part = nullptr;
        cudaMalloc(&o_part, parts * sh_.hd * 4);
        cudaMalloc(&ml_part, parts * 2 * 4);
        auto* d_rows = device_copy(plan_.decode_rows);
        deepinfer::cuda::launch_attention_decode(a, d_rows, n, plan_.max_decode_parts, o_part, ml_part, decode_kind,
                                                 nullptr);
        cudaDeviceSynchronize();
        cudaFree(d_rows);
        cudaFree(o_part);
        cudaFree(ml_part);
      }
    } catch (const std::exception& e) {
      err = e.what();
    }
    const cudaError_t e = cudaGetLastError();
    CHECK_MSG(err.empty() && e == cudaSuccess, "kernel failed: %s %s", err.c_str(), cudaGetErrorString(e));
    std::vector<uint8_t> raw(n_out * es);
    cudaMemcpy(raw.data(), d_out, raw.size(), cudaMemcpyDeviceToHost);
    std::vector<float> out(n_out);
    for (size_t i = 0; i < n_out; ++i) {
      if (sh_.dt == Dt::kF32) {
        std::memcpy(&out[i], &raw[i * 4], 4);
      } else {
        uint16_t h;
        std::memcpy(&h, &raw[i * 2], 2);
        out[i] = sh_.dt == Dt::kBF16 ? deepinfer::bf16_to_f32(h) : deepinfer::f16_to_f32(h);
      }
    }
    cudaFree(d_qkv);
    cudaFree(d_k);
    cudaFree(d_v);
    cudaFree(d_bt);
    cudaFree(d_out);
    return out;
  }

 private:
  Shape sh_;
  int nqkv_ = 0, T_ = 0;
  int64_t num_slots_ = 0;
  std::vector<float> qkv_, k_, v_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<deepinfer::SeqSpan> spans_;
  std::vector<int32_t> positions_, token_seq_, tokens_;
  StepPlan plan_;
};

double tolerance(Dt dt) { return dt == Dt::kBF16 ? 2e-2 : dt == Dt::kF16 ? 4e-3 : 1e-5; }

// Max |got - want| over the rows the plan covers (prefill tiles or decode rows).
double max_err(const std::vector<float>& got, const std::vector<float>& want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    e = std::max(e, std::isfinite(d) ? d : 1e30);
  }
  return e;
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {
      {32, 8, 128, 16, Dt::kBF16},  // Llama-3-8B's attention
      {8, 2, 32, 16, Dt::kBF16},    // the transformers cross-check models
      {16, 16, 64, 32, Dt::kF16},   // MHA, f16
      {8, 1, 256, 16, Dt::kBF16},   // head_dim 256, G = 8
      {4, 2, 8, 4, Dt::kF32},       // the f32 fixtures
  };
  return s;
}

}  // namespace

TEST(prefill_attention_matches_reference) {
  // Whole prompts, prompts after cached context, chunks that end mid-tile, a 1-row chunk mixed in.
  const std::vector<SeqShape> seqs = {{0, 130}, {37, 64}, {200, 19}, {0, 2}, {64, 65}};
  for (const Shape& sh : shapes()) {
    AttentionCase c(sh, seqs, 1, 7 + static_cast<uint64_t>(sh.hd));
    const std::vector<float> want = c.reference();
    for (PrefillAttn kind : {PrefillAttn::kFma, PrefillAttn::kMma}) {
      const double e = max_err(c.run(true, kind, DecodeAttn::kWarpPerKey), want);
      std::printf("  prefill %-3s Hq %2d Hkv %2d hd %3d %-4s: max error %.2e (tolerance %.0e)\n",
                  kind == PrefillAttn::kFma ? "fma" : "mma", sh.Hq, sh.Hkv, sh.hd, dt_str(sh.dt), e, tolerance(sh.dt));
      CHECK_MSG(e <= tolerance(sh.dt), "prefill kind %d hd %d: %.3g", static_cast<int>(kind), sh.hd, e);
    }
  }
}

TEST(decode_attention_matches_reference) {
  // Contexts on both sides of chunk (64), partition (256) and 16-partition boundaries.
  std::vector<SeqShape> seqs;
  for (int n : {1, 2, 63, 64, 65, 255, 256, 257, 1000, 4096, 4097, 5000}) seqs.push_back({n - 1, 1});
  for (const Shape& sh : shapes()) {
    AttentionCase c(sh, seqs, 1, 11 + static_cast<uint64_t>(sh.hd));
    const std::vector<float> want = c.reference();
    for (DecodeAttn kind : {DecodeAttn::kWarpPerKey, DecodeAttn::kTiled, DecodeAttn::kMma}) {
      const double e = max_err(c.run(false, PrefillAttn::kFma, kind), want);
      std::printf("  decode %-5s Hq %2d Hkv %2d hd %3d %-4s: max error %.2e (tolerance %.0e)\n",
                  kind == DecodeAttn::kWarpPerKey ? "warp" : kind == DecodeAttn::kTiled ? "tiled" : "mma", sh.Hq,
                  sh.Hkv, sh.hd, dt_str(sh.dt), e, tolerance(sh.dt));
      CHECK_MSG(e <= tolerance(sh.dt), "decode kind %d hd %d: %.3g", static_cast<int>(kind), sh.hd, e);
    }
  }
}

int main(int argc, char** argv) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n <= 0) {
    std::printf("SKIP: no usable CUDA device\n");
    return 77;
  }
  return ::ditest::run_all(argc, argv);
}
