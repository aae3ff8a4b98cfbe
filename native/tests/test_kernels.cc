// Kernel paths (scalar, AVX2, AVX-512 when the CPU has them) agree, and the matmul result
// of a token does not depend on the number of tokens, the tile shape or the panel split.
#include <cstdlib>
#include <random>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/thread_pool.h"
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
    for (int T : {1, 2, 3, 4, 5, 6, 7, 13, 19}) {
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

TEST_MAIN()
