// Kernel paths (scalar, AVX2, AVX-512 when the CPU has them) agree, and the matmul result
// of a token does not depend on the number of tokens, the tile shape or the panel split.
// Also: the thread pool's barrier, and the CPU forward pass's multi-threaded paths (fused
// per-kv-head attention phase, split or private norms, 1/2/3 threads) giving bit-identical
// logits on the reference fixtures.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/thread_pool.h"
#include "core/safetensors.h"
#include "test_util.h"

using namespace deepinfer::cpu;

namespace {

std::vector<const KernelTable*> paths() {
  std::vector<const KernelTable*> p{&scalar_kernels()};
  if (avx2_kernels() != nullptr) p.push_back(avx2_kernels());
  if (avx512_kernels() != nullptr) p.push_back(avx512_kernels());
  return p;
}

struct Packed {
  std::vector<float> storage;
  PackedMatrix m;
};

Packed pack(const std::vector<float>& w, int n, int k) {
  Packed p;
  p.m.n = n;
  p.m.k = k;
  p.storage.assign(static_cast<size_t>(p.m.num_panels()) * k * kPanel + 16, 0.f);
  // 64-byte align inside the vector
  float* base = p.storage.data();
  while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
  p.m.data = base;
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < k; ++c)
      p.m.data[(static_cast<size_t>(r / kPanel) * k + c) * kPanel + r % kPanel] = w[static_cast<size_t>(r) * k + c];
  return p;
}

std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

}  // namespace

TEST(reports_the_chosen_path) {
  std::printf("  kernels(): %s; avx2 %s, avx512 %s\n", kernels().name, avx2_kernels() ? "yes" : "no",
              avx512_kernels() ? "yes" : "no");
  CHECK(std::string(di_cpu_kernel_path()) == kernels().name);
}

TEST(matmul_is_bit_identical_across_paths_token_counts_and_splits) {
  const int K = 77, N = 45;  // odd sizes: partial panels and k not a multiple of the width
  auto w = randv(static_cast<size_t>(N) * K, 1);
  Packed p = pack(w, N, K);
  const int Tmax = 19;
  static_assert(Tmax >= 13, "");
  auto a = randv(static_cast<size_t>(Tmax) * K, 2);
  // Reference: scalar path, one token at a time.
  std::vector<float> ref(static_cast<size_t>(Tmax) * N);
  for (int t = 0; t < Tmax; ++t)
    scalar_kernels().matmul(a.data() + t * K, K, 1, p.m, 0, p.m.num_panels(), ref.data() + t * N, N, false);
  // The exact fma chain, by hand, for one output.
  float manual = 0.f;
  for (int k = 0; k < K; ++k) manual = std::fma(a[static_cast<size_t>(5 * K + k)], w[static_cast<size_t>(7 * K + k)], manual);
  CHECK(ref[static_cast<size_t>(5 * N + 7)] == manual);
  for (const KernelTable* kt : paths()) {
    for (int T : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 19}) {
      std::vector<float> c(static_cast<size_t>(T) * N, 0.f);
      // panels split in two ranges, as two threads would
      kt->matmul(a.data(), K, T, p.m, 0, 1, c.data(), N, false);
      kt->matmul(a.data(), K, T, p.m, 1, p.m.num_panels(), c.data(), N, false);
      bool same = true;
      for (size_t i = 0; i < c.size(); ++i) same = same && c[i] == ref[i];
      CHECK_MSG(same, "path %s, T=%d differs from scalar single-token", kt->name, T);
    }
    // accumulate mode adds onto C
    std::vector<float> c(static_cast<size_t>(3) * N, 1.f);
    kt->matmul(a.data(), K, 3, p.m, 0, p.m.num_panels(), c.data(), N, true);
    bool same = true;
    for (size_t i = 0; i < c.size(); ++i) same = same && c[i] == 1.f + ref[i];
    CHECK_MSG(same, "path %s accumulate", kt->name);
  }
}

TEST(matmul_blocked_panels_are_bit_identical) {
  // K large enough that a panel block holds 2 panels (256 KiB / (K * 64 B)), T with every
  // tail size after the 6-token tiles; several split points.
  const int K = 2048, N = 7 * kPanel - 3;
  auto w = randv(static_cast<size_t>(N) * K, 11, 0.05f);
  Packed p = pack(w, N, K);
  const int Tmax = 41;
  auto a = randv(static_cast<size_t>(Tmax) * K, 12);
  std::vector<float> ref(static_cast<size_t>(Tmax) * N);
  for (int t = 0; t < Tmax; ++t)
    scalar_kernels().matmul(a.data() + static_cast<size_t>(t) * K, K, 1, p.m, 0, p.m.num_panels(),
                            ref.data() + static_cast<size_t>(t) * N, N, false);
  for (const KernelTable* kt : paths()) {
    for (int T : {1, 5, 6, 11, 32, 37, 41}) {
      for (int split : {0, 1, 3, 5}) {
        std::vector<float> c(static_cast<size_t>(T) * N, 0.f);
        kt->matmul(a.data(), K, T, p.m, 0, split, c.data(), N, false);
        kt->matmul(a.data(), K, T, p.m, split, p.m.num_panels(), c.data(), N, false);
        bool same = true;
        for (size_t i = 0; i < c.size(); ++i) same = same && c[i] == ref[i];
        CHECK_MSG(same, "path %s, T=%d, split %d differs from scalar single-token", kt->name, T, split);
      }
    }
  }
}

// FP8 panels: matmul_packed dequantizes in blocks into f32 panels, so a one-hot A reads back
// every weight: each E4M3 byte times its row's scale, exactly as the table and one f32 rounding
// give it (subnormal bytes included), on every instruction set, with blocked k-scales.
TEST(fp8_panels_dequantize_exactly) {
  const int K = 256, N = 20;  // two panels, the second partial
  std::vector<uint8_t> bytes(static_cast<size_t>(2) * K * kPanel, 0);
  std::vector<float> scales(static_cast<size_t>(2) * kPanel * 2, 0.f);  // two k-blocks of 128
  const float* table = e4m3_table();
  for (int n = 0; n < N; ++n) {
    for (int b = 0; b < 2; ++b) scales[static_cast<size_t>(n) * 2 + b] = 0.001f * static_cast<float>(n + 1) * (b + 1) + 3e-5f;
    for (int k = 0; k < K; ++k) {
      uint8_t v = static_cast<uint8_t>((k + 37 * n) & 0xff);
      if ((v & 0x7f) == 0x7f) v = 0x01;  // no NaN bytes
      bytes[(static_cast<size_t>(n / kPanel) * K + k) * kPanel + n % kPanel] = v;
    }
  }
  PackedMatrix W;
  W.n = N;
  W.k = K;
  W.q8 = bytes.data();
  W.q8_scales = scales.data();
  W.q8_kblock = 128;
  std::vector<float> A(static_cast<size_t>(K) * K, 0.f);
  for (int k = 0; k < K; ++k) A[static_cast<size_t>(k) * K + k] = 1.f;
  for (const KernelTable* kt : {&scalar_kernels(), avx2_kernels(), avx512_kernels()}) {
    if (kt == nullptr) continue;
    std::vector<float> C(static_cast<size_t>(K) * N, -1.f);
    matmul_packed(*kt, A.data(), K, K, W, 0, W.num_panels(), C.data(), N, false);
    int bad = 0;
    for (int k = 0; k < K; ++k) {
      for (int n = 0; n < N; ++n) {
        const uint8_t v = bytes[(static_cast<size_t>(n / kPanel) * K + k) * kPanel + n % kPanel];
        const float want = table[v] * scales[static_cast<size_t>(n) * 2 + k / 128];
        bad += C[static_cast<size_t>(k) * N + n] != want;
      }
    }
    CHECK_MSG(bad == 0, "%s: %d of %d weights differ from table x scale", kt->name, bad, K * N);
    // Few tokens go through matmul_q8 (bytes converted in registers): the same bits as the
    // buffered path for the same rows, for 1 to 5 tokens and a panel split.
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> a(static_cast<size_t>(5) * K);
    for (float& x : a) x = u(rng);
    std::vector<float> wide(static_cast<size_t>(16) * K, 0.f);  // 16 tokens: the buffered path
    for (size_t i = 0; i < a.size(); ++i) wide[i] = a[i];
    std::vector<float> ref(static_cast<size_t>(16) * N);
    matmul_packed(*kt, wide.data(), K, 16, W, 0, W.num_panels(), ref.data(), N, false);
    for (int T = 1; T <= 5; ++T) {
      std::vector<float> c(static_cast<size_t>(T) * N, -1.f);
      matmul_packed(*kt, a.data(), K, T, W, 0, 1, c.data(), N, false);
      matmul_packed(*kt, a.data(), K, T, W, 1, W.num_panels(), c.data(), N, false);
      int diff = 0;
      for (int i = 0; i < T * N; ++i) diff += c[static_cast<size_t>(i)] != ref[static_cast<size_t>(i)];
      CHECK_MSG(diff == 0, "%s T=%d: %d outputs differ between the register and buffered FP8 paths", kt->name, T, diff);
    }
  }
}

TEST(attention_kernels_agree) {
  for (int hd : {8, 16, 24, 64, 72, 128, 6}) {
    const size_t stride = static_cast<size_t>(hd) * 3 + 8;  // rows of a [slot][kv heads][hd] cache
    for (int n : {1, 3, 8, 9, 16}) {
      auto q = randv(static_cast<size_t>(hd), 21);
      auto kv = randv(stride * n, 22);
      auto p = randv(static_cast<size_t>(n), 23);
      const KernelTable& s = scalar_kernels();
      std::vector<float> sref(static_cast<size_t>(n));
      s.attn_scores(q.data(), kv.data(), stride, n, hd, 0.125f, sref.data());
      for (const KernelTable* kt : paths()) {
        std::vector<float> sc(static_cast<size_t>(n));
        kt->attn_scores(q.data(), kv.data(), stride, n, hd, 0.125f, sc.data());
        for (int j = 0; j < n; ++j) {
          const double ref = 0.125 * [&] {
            double d = 0;
            for (int i = 0; i < hd; ++i) d += static_cast<double>(q[static_cast<size_t>(i)]) * kv[j * stride + i];
            return d;
          }();
          CHECK_MSG(std::fabs(sc[static_cast<size_t>(j)] - ref) < 1e-5 * std::max(1.0, std::fabs(ref)) + 1e-5,
                    "%s attn_scores hd=%d n=%d j=%d: %g vs %g", kt->name, hd, n, j, sc[static_cast<size_t>(j)], ref);
        }
        // A key's score does not depend on how many keys share the call.
        for (int j = 0; j < n; ++j) {
          float one;
          kt->attn_scores(q.data(), kv.data() + j * stride, stride, 1, hd, 0.125f, &one);
          CHECK_MSG(one == sc[static_cast<size_t>(j)], "%s attn_scores hd=%d: key %d alone differs", kt->name, hd, j);
        }
        // attn_accum == n axpy calls of the same path, bit for bit.
        auto o1 = randv(static_cast<size_t>(hd), 24);
        auto o2 = o1;
        kt->attn_accum(p.data(), kv.data(), stride, n, hd, o1.data());
        for (int j = 0; j < n; ++j) kt->axpy(p[static_cast<size_t>(j)], kv.data() + j * stride, o2.data(), hd);
        CHECK_MSG(o1 == o2, "%s attn_accum hd=%d n=%d differs from axpy", kt->name, hd, n);
      }
    }
  }
}

TEST(e4m3_dequantisation_is_exact_and_identical_on_every_path) {
  // Every byte but NaN, at lengths with and without a vector tail, times a power of two and an
  // arbitrary scale: f8e4m3_to_f32(b) * scale, one rounding, on every path.
  std::vector<uint8_t> q;
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) != 0x7f) q.push_back(static_cast<uint8_t>(b));
  }
  for (float scale : {1.f, 0.0078125f, 3.7f, 1024.f}) {
    for (int n : {254, 1, 7, 9, 17, 64}) {
      for (const KernelTable* kt : paths()) {
        std::vector<float> out(static_cast<size_t>(n), -1.f);
        kt->dequant_e4m3(q.data(), scale, n, out.data());
        for (int i = 0; i < n; ++i) {
          const float want = deepinfer::f8e4m3_to_f32(q[static_cast<size_t>(i)]) * scale;
          CHECK_MSG(out[static_cast<size_t>(i)] == want, "%s byte 0x%02x scale %g: %g vs %g", kt->name,
                    q[static_cast<size_t>(i)], scale, out[static_cast<size_t>(i)], want);
        }
      }
    }
  }
}

// The fp8 KV cache's in-place attention kernels against dequant_e4m3 into f32 rows followed by
// attn_scores / attn_accum of the same table: the same bits (kernels.h), which is what lets the
// backend read K/V in place for decode rows and through its f32 scratch for prefill rows. Rows
// with exponents across the range: typical (-12..0), the writer's lowest (-126: dequantised
// values below f32's normal range, rounded), and above the one-multiply limit (8, 20).
TEST(fp8_in_place_attention_equals_dequantise_then_f32_kernels) {
  std::mt19937 rng(31);
  std::uniform_int_distribution<int> byte(0, 255);
  const int exps[] = {-3, -7, 0, -12, -126, 8, 20, -1, -5, -9, 2, -4, -6, -8, -2, -10, -11};
  for (const KernelTable* kt : paths()) {
    for (int hd : {8, 16, 24, 64, 72, 128, 6}) {
      if (hd % 8 != 0 && kt != &scalar_kernels()) continue;  // vector tables: hd % 8 == 0 (kernels.h)
      const size_t stride = static_cast<size_t>(hd) * 3 + 5;  // bytes between rows: unaligned rows
      const size_t exp_stride = 3;
      for (int n : {1, 3, 8, 9, 16, 17}) {
        std::vector<uint8_t> kv(stride * n);
        for (auto& b : kv) {
          do b = static_cast<uint8_t>(byte(rng));
          while ((b & 0x7f) == 0x7f);  // no NaN bytes (the writer never stores one for finite rows)
        }
        std::vector<int8_t> ex(exp_stride * n, 99);  // other heads' exponents: must not be read
        for (int j = 0; j < n; ++j) ex[j * exp_stride] = static_cast<int8_t>(exps[j % 17]);
        std::vector<float> rows(static_cast<size_t>(n) * hd);
        for (int j = 0; j < n; ++j) {
          kt->dequant_e4m3(kv.data() + j * stride, std::ldexp(1.f, exps[j % 17]), hd, rows.data() + static_cast<size_t>(j) * hd);
        }
        auto q = randv(static_cast<size_t>(hd), 41, 0.01f);  // small: 448 * 2^20 * q stays finite
        std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n), -1.f);
        kt->attn_scores(q.data(), rows.data(), static_cast<size_t>(hd), n, hd, 0.125f, want.data());
        kt->attn_scores_e4m3(q.data(), kv.data(), ex.data(), stride, exp_stride, n, hd, 0.125f, got.data());
        for (int j = 0; j < n; ++j) {
          CHECK_MSG(std::memcmp(&got[static_cast<size_t>(j)], &want[static_cast<size_t>(j)], 4) == 0,
                    "%s scores hd=%d n=%d key %d (e %d): %a vs %a", kt->name, hd, n, j, exps[j % 17],
                    got[static_cast<size_t>(j)], want[static_cast<size_t>(j)]);
        }
        auto p = randv(static_cast<size_t>(n), 43);
        auto o1 = randv(static_cast<size_t>(hd), 44);
        auto o2 = o1;
        kt->attn_accum(p.data(), rows.data(), static_cast<size_t>(hd), n, hd, o1.data());
        kt->attn_accum_e4m3(p.data(), kv.data(), ex.data(), stride, exp_stride, n, hd, o2.data());
        CHECK_MSG(std::memcmp(o1.data(), o2.data(), o1.size() * 4) == 0, "%s accum hd=%d n=%d differs", kt->name, hd, n);
      }
    }
  }
}

TEST(elementwise_kernels_agree_to_rounding) {
  for (int n : {1, 7, 8, 9, 16, 33, 100}) {
    auto x = randv(static_cast<size_t>(n), 3, 3.f);
    auto y = randv(static_cast<size_t>(n), 4);
    auto w = randv(static_cast<size_t>(n), 5);
    const KernelTable& s = scalar_kernels();
    for (const KernelTable* kt : paths()) {
      auto rel = [](double a, double b) { return std::fabs(a - b) / std::max(1.0, std::fabs(b)); };
      CHECK_MSG(rel(kt->dot(x.data(), y.data(), n), s.dot(x.data(), y.data(), n)) < 1e-5, "%s dot n=%d", kt->name, n);
      CHECK(rel(kt->sum_squares(x.data(), n), s.sum_squares(x.data(), n)) < 1e-5);
      std::vector<float> e1 = x, e2 = x;
      const float s1 = kt->exp_sub_sum(e1.data(), 2.f, n), s2 = s.exp_sub_sum(e2.data(), 2.f, n);
      CHECK_MSG(rel(s1, s2) < 1e-5, "%s exp sum n=%d: %g vs %g", kt->name, n, s1, s2);
      for (int i = 0; i < n; ++i) CHECK(rel(e1[static_cast<size_t>(i)], e2[static_cast<size_t>(i)]) < 1e-5);
      std::vector<float> o1(static_cast<size_t>(n)), o2(static_cast<size_t>(n));
      kt->silu_mul(x.data(), y.data(), o1.data(), n);
      s.silu_mul(x.data(), y.data(), o2.data(), n);
      for (int i = 0; i < n; ++i) CHECK(rel(o1[static_cast<size_t>(i)], o2[static_cast<size_t>(i)]) < 1e-5);
      kt->scale_mul(x.data(), 0.5f, w.data(), o1.data(), n);
      s.scale_mul(x.data(), 0.5f, w.data(), o2.data(), n);
      CHECK(o1 == o2);
      std::vector<float> a1 = y, a2 = y;
      kt->axpy(0.3f, x.data(), a1.data(), n);
      s.axpy(0.3f, x.data(), a2.data(), n);
      for (int i = 0; i < n; ++i) CHECK(rel(a1[static_cast<size_t>(i)], a2[static_cast<size_t>(i)]) < 1e-6);
    }
  }
  // exp over a wide range, against std::exp
  for (const KernelTable* kt : paths()) {
    std::vector<float> v;
    for (float x = -80.f; x <= 80.f; x += 0.37f) v.push_back(x);
    std::vector<float> e = v;
    kt->exp_sub_sum(e.data(), 0.f, static_cast<int>(e.size()));
    double worst = 0;
    for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::fabs(e[i] / std::exp(static_cast<double>(v[i])) - 1.0));
    CHECK_MSG(worst < 1e-6, "%s exp max relative error %g", kt->name, worst);
  }
}

TEST(thread_pool_runs_every_index_once) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<int> hits(3, 0);
    pool.run([&](int i) { hits[static_cast<size_t>(i)]++; });
    CHECK(hits == std::vector<int>({1, 1, 1}));
  }
  std::vector<int> seen(1000, 0);
  pool.parallel_for(1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)]++;
  });
  bool all = true;
  for (int v : seen) all = all && v == 1;
  CHECK(all);
}

TEST(thread_pool_barrier_separates_phases) {
  for (int nt : {2, 3}) {
    ThreadPool pool(nt);
    std::vector<int> a(static_cast<size_t>(nt), 0);
    bool ok = true;
    for (int rep = 0; rep < 50; ++rep) {
      pool.run([&](int i) {
        for (int phase = 1; phase <= 20; ++phase) {
          a[static_cast<size_t>(i)] = rep * 100 + phase;
          pool.barrier();
          for (int j = 0; j < nt; ++j) ok = ok && a[static_cast<size_t>(j)] == rep * 100 + phase;
          pool.barrier();
        }
      });
    }
    CHECK_MSG(ok, "barrier with %d threads let a phase overlap the next", nt);
  }
}

namespace {

// Logits of one watched sequence at every step it samples: prefill of `prompt` in chunks of
// `chunk` (0 = whole), then n_new greedy tokens; `others` run alongside (each step: their
// next chunk of 5 tokens or one decode token), so steps mix prefill and decode rows.
std::vector<std::vector<float>> trace(di_engine* e, int vocab, const std::vector<int32_t>& prompt, int chunk,
                                      const std::vector<std::vector<int32_t>>& others, int n_new) {
  using namespace ditest;
  std::vector<Seq> seqs(1 + others.size());
  seqs[0].prompt = prompt;
  for (size_t i = 0; i < others.size(); ++i) seqs[i + 1].prompt = others[i];
  for (size_t i = 0; i < seqs.size(); ++i)
    for (int j = 0; j < 8; ++j) seqs[i].blocks.push_back(static_cast<int32_t>(i * 8 + j));
  std::vector<std::vector<float>> out;
  std::vector<float> logits(static_cast<size_t>(vocab) * seqs.size());
  while (static_cast<int>(seqs[0].output.size()) < n_new) {
    std::vector<std::vector<int32_t>> alls(seqs.size());
    std::vector<di_step_seq> items;
    std::vector<int> took;
    for (size_t i = 0; i < seqs.size(); ++i) {
      alls[i] = seqs[i].all();
      const int remaining = static_cast<int>(alls[i].size()) - seqs[i].computed;
      const int c = i == 0 ? chunk : 5;
      const int take = (c > 0 && remaining > c) ? c : remaining;
      items.push_back(step_item(seqs[i], take, alls[i]));
      took.push_back(take);
    }
    std::vector<di_seq_output> outs;
    if (!run_step(e, items, &outs, logits.data())) break;
    for (size_t i = 0; i < seqs.size(); ++i) {
      seqs[i].computed += took[i];
      if (outs[i].sampled) seqs[i].output.push_back(outs[i].token_id);
    }
    if (outs[0].sampled) out.emplace_back(logits.begin(), logits.begin() + vocab);
  }
  return out;
}

}  // namespace

TEST(forward_is_bit_identical_across_threads_batches_and_chunks) {
  // Every step multi-threaded, however small (the default runs small steps on one thread).
  setenv("DEEPINFER_DEV_CPU_SERIAL_MACS", "0", 1);
  // qwen3_qknorm_hd16: head_dim 16, 2 kv heads: the fused per-kv-head phase with 2 threads,
  // the split phases with 3. qwen2_bias (head_dim 8, biases) and llama_gqa8 (1 kv head):
  // the split phases.
  for (const char* name : {"qwen3_qknorm_hd16", "qwen2_bias", "llama_gqa8"}) {
    const std::string model = ditest::fixtures_dir() + "/" + name;
    di_engine* e1 = ditest::make_engine(model, 1, 64, 16, 128);
    di_engine* e2 = ditest::make_engine(model, 2, 64, 16, 128);
    di_engine* e3 = ditest::make_engine(model, 3, 64, 16, 128);
    if (e1 == nullptr || e2 == nullptr || e3 == nullptr) return;
    di_engine_info info;
    di_engine_get_info(e1, &info);
    const int V = info.vocab_size;
    std::mt19937 g(5);
    auto prompt_of = [&](int n) {
      std::vector<int32_t> p;
      for (int i = 0; i < n; ++i) p.push_back(static_cast<int32_t>(g() % static_cast<uint32_t>(V)));
      return p;
    };
    // 90 tokens: a whole-prompt step has more rows than the private-norm limit (64).
    const std::vector<int32_t> prompt = prompt_of(90);
    const std::vector<std::vector<int32_t>> others{prompt_of(12), prompt_of(70), prompt_of(3)};
    const auto alone = trace(e1, V, prompt, 0, {}, 6);
    CHECK_EQ(alone.size(), size_t{6});
    CHECK_MSG(trace(e2, V, prompt, 0, {}, 6) == alone, "%s: 2 threads alone differ from 1 thread", name);
    CHECK_MSG(trace(e2, V, prompt, 7, others, 6) == alone, "%s: 2 threads, chunks of 7, batched differ", name);
    CHECK_MSG(trace(e3, V, prompt, 0, others, 6) == alone, "%s: 3 threads, batched differ", name);
    CHECK_MSG(trace(e3, V, prompt, 33, {}, 6) == alone, "%s: 3 threads, chunks of 33 differ", name);
    di_engine_free(e1);
    di_engine_free(e2);
    di_engine_free(e3);
  }
  unsetenv("DEEPINFER_DEV_CPU_SERIAL_MACS");
}

TEST_MAIN()
