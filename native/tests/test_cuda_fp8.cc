// The FP8 kernels of the CUDA backend (fp8.cu) against host references, kernel by kernel:
// kv_write_fp8 against core/kv_fp8.h (bit-identical bytes and exponents), fp8 decode and prefill
// attention against a double-precision reference over the same dequantised K/V, and the FP8
// GEMV against a double reference over the dequantised weights (per-channel and 128x128-block
// scales, M = 1, 8 and 33). Skipped (exit 77) without a GPU; native/scripts/gpu-check.sh runs it.
//
// Tolerances: attention outputs are convex combinations of V rows (|V| <= 1 after dequant):
// 2e-2 absolute for bf16 output (rounding 2^-9 plus __expf), 1e-4 for f32 output. GEMV: f32
// sums of K <= 1024 products: 1e-4 relative to the row's sum of |products|.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "backends/cuda/kernels.h"
#include "backends/cuda/step_plan.h"
#include "core/kv_fp8.h"
#include "core/tensor_elem.h"
#include "test_util.h"

using namespace ditest;
using deepinfer::cuda::Dt;

namespace {

template <typename T>
T* dev(const std::vector<T>& h) {
  T* d = nullptr;
  cudaMalloc(&d, std::max<size_t>(h.size(), 1) * sizeof(T));
  cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}
template <typename T>
std::vector<T> host(const T* d, size_t n) {
  std::vector<T> h(n);
  cudaDeviceSynchronize();
  cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
  return h;
}

}  // namespace

TEST(kv_write_fp8_matches_the_host_quantiser_bit_for_bit) {
  const int T = 7, Hq = 4, Hkv = 2, hd = 64, nqkv = (Hq + 2 * Hkv) * hd, k_off = Hq * hd;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> qkv(static_cast<size_t>(T) * nqkv);
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = nd(rng) * (i % 97 == 0 ? 900.f : (i % 5 == 0 ? 1e-3f : 3.f));
  std::vector<int64_t> slots = {5, 0, -1, 9, 3, 12, 1};
  const int nslots = 16;
  float* d_qkv = dev(qkv);
  int64_t* d_slots = dev(slots);
  std::vector<uint8_t> zero8(static_cast<size_t>(nslots) * Hkv * hd, 0);
  std::vector<int8_t> zexp(static_cast<size_t>(nslots) * Hkv, 0);
  uint8_t* k8 = dev(zero8);
  uint8_t* v8 = dev(zero8);
  int8_t* ke = dev(zexp);
  int8_t* ve = dev(zexp);
  deepinfer::cuda::launch_kv_write_fp8(d_qkv, T, nqkv, k_off, Hkv, hd, d_slots, k8, v8, ke, ve, nullptr);
  const auto hk = host(k8, zero8.size()), hv = host(v8, zero8.size());
  const auto hke = host(ke, zexp.size()), hve = host(ve, zexp.size());
  int mismatches = 0;
  for (int t = 0; t < T; ++t) {
    if (slots[static_cast<size_t>(t)] < 0) continue;
    for (int h = 0; h < Hkv; ++h) {
      for (int kv = 0; kv < 2; ++kv) {
        std::vector<uint8_t> q(hd);
        const int8_t e = deepinfer::kv_fp8_quantize_row(
            qkv.data() + static_cast<size_t>(t) * nqkv + k_off + kv * Hkv * hd + h * hd, hd, q.data());
        const size_t r = static_cast<size_t>(slots[static_cast<size_t>(t)]) * Hkv + h;
        mismatches += (kv == 0 ? hke : hve)[r] != e;
        for (int i = 0; i < hd; ++i) mismatches += (kv == 0 ? hk : hv)[r * hd + i] != q[static_cast<size_t>(i)];
      }
    }
  }
  std::printf("  kv_write_fp8: %d mismatching bytes/exponents\n", mismatches);
  CHECK_EQ(mismatches, 0);
  for (void* p : {static_cast<void*>(d_qkv), static_cast<void*>(d_slots), static_cast<void*>(k8), static_cast<void*>(v8),
                  static_cast<void*>(ke), static_cast<void*>(ve)}) cudaFree(p);
}

namespace {

// Decode rows and prefill tiles over a scrambled block table, against double precision.
void check_attention(int Hq, int Hkv, int hd, Dt out_dt, double tol) {
  const int bs = 16, nblocks = 64, nslots = nblocks * bs;
  const int kvd = Hkv * hd, nqkv = (Hq + 2 * Hkv) * hd;
  std::mt19937 rng(11 + hd);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // The cache: quantised on the host (kv_write_fp8 is checked above).
  std::vector<uint8_t> k8(static_cast<size_t>(nslots) * kvd), v8(k8.size());
  std::vector<int8_t> ke(static_cast<size_t>(nslots) * Hkv), ve(ke.size());
  std::vector<float> row(hd);
  for (int r = 0; r < nslots * Hkv; ++r) {
    const float mag = (r % 7 == 0) ? 600.f : 1.f;
    for (int i = 0; i < hd; ++i) row[static_cast<size_t>(i)] = u(rng) * mag;
    ke[static_cast<size_t>(r)] = deepinfer::kv_fp8_quantize_row(row.data(), hd, k8.data() + static_cast<size_t>(r) * hd);
    for (int i = 0; i < hd; ++i) row[static_cast<size_t>(i)] = u(rng);
    ve[static_cast<size_t>(r)] = deepinfer::kv_fp8_quantize_row(row.data(), hd, v8.data() + static_cast<size_t>(r) * hd);
  }
  auto kval = [&](const std::vector<uint8_t>& b, const std::vector<int8_t>& e, int64_t slot, int h, int i) {
    const size_t r = static_cast<size_t>(slot) * Hkv + h;
    return static_cast<double>(deepinfer::f8e4m3_to_f32(b[r * hd + i])) * std::ldexp(1.0, e[r]);
  };
  std::vector<int32_t> table(nblocks);
  for (int i = 0; i < nblocks; ++i) table[static_cast<size_t>(i)] = (i * 37 + 5) % nblocks;
  // Rows: decode rows with 1, 17, 300 and 1000 keys, then one prefill tile of 20 rows at pos0 40.
  const std::vector<int> dec_keys = {1, 17, 300, 1000};
  const int T = static_cast<int>(dec_keys.size()) + 20;
  std::vector<float> qkv(static_cast<size_t>(T) * nqkv);
  for (float& x : qkv) x = u(rng) * 0.3f;
  std::vector<deepinfer::cuda::DecodeRow> rows;
  for (size_t i = 0; i < dec_keys.size(); ++i) {
    deepinfer::cuda::DecodeRow d{};
    d.row = static_cast<int32_t>(i);
    d.n_keys = dec_keys[i];
    d.bt_offset = 0;
    rows.push_back(d);
  }
  deepinfer::cuda::PrefillTile tile{static_cast<int32_t>(dec_keys.size()), 20, 40, 0};
  deepinfer::cuda::Fp8AttnParams a;
  a.qkv = dev(qkv);
  a.nqkv = nqkv;
  a.Hq = Hq;
  a.Hkv = Hkv;
  a.hd = hd;
  a.block_size = bs;
  a.scale = 1.f / std::sqrt(static_cast<float>(hd));
  a.k8 = dev(k8);
  a.v8 = dev(v8);
  a.k_exp = dev(ke);
  a.v_exp = dev(ve);
  a.block_tables = dev(table);
  a.dt = out_dt;
  const size_t out_n = static_cast<size_t>(T) * Hq * hd;
  void* out = nullptr;
  cudaMalloc(&out, out_n * 4);
  auto* d_rows = dev(rows);
  auto* d_tile = dev(std::vector<deepinfer::cuda::PrefillTile>{tile});
  a.out = out;
  deepinfer::cuda::launch_attention_decode_fp8(a, d_rows, static_cast<int>(rows.size()), nullptr);
  deepinfer::cuda::launch_attention_prefill_fp8(a, d_tile, 1, nullptr);
  std::vector<float> got(out_n);
  if (out_dt == Dt::kF32) {
    got = host(static_cast<float*>(out), out_n);
  } else {
    const auto h16 = host(static_cast<uint16_t*>(out), out_n);
    for (size_t i = 0; i < out_n; ++i) got[i] = deepinfer::bf16_to_f32(h16[i]);
  }
  double worst = 0.0;
  for (int t = 0; t < T; ++t) {
    const int n_keys = t < static_cast<int>(dec_keys.size()) ? dec_keys[static_cast<size_t>(t)] : 40 + (t - 4) + 1;
    for (int h = 0; h < Hq; ++h) {
      const int kvh = h / (Hq / Hkv);
      std::vector<double> s(static_cast<size_t>(n_keys));
      double m = -1e300;
      for (int j = 0; j < n_keys; ++j) {
        const int64_t slot = static_cast<int64_t>(table[static_cast<size_t>(j / bs)]) * bs + j % bs;
        double d = 0;
        for (int i = 0; i < hd; ++i) d += qkv[static_cast<size_t>(t) * nqkv + h * hd + i] * kval(k8, ke, slot, kvh, i);
        s[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(hd));
        m = std::max(m, s[static_cast<size_t>(j)]);
      }
      double l = 0;
      for (double& x : s) l += (x = std::exp(x - m));
      for (int i = 0; i < hd; ++i) {
        double o = 0;
        for (int j = 0; j < n_keys; ++j) {
          const int64_t slot = static_cast<int64_t>(table[static_cast<size_t>(j / bs)]) * bs + j % bs;
          o += s[static_cast<size_t>(j)] * kval(v8, ve, slot, kvh, i);
        }
        worst = std::max(worst, std::fabs(o / l - got[static_cast<size_t>(t) * Hq * hd + h * hd + i]));
      }
    }
  }
  std::printf("  fp8 attention Hq %d Hkv %d hd %d out %s: max abs error %.2e (tolerance %.0e)\n", Hq, Hkv, hd,
              deepinfer::cuda::dt_name(out_dt), worst, tol);
  CHECK_MSG(worst <= tol, "%.3g", worst);
  for (const void* p : {static_cast<const void*>(a.qkv), static_cast<const void*>(a.k8), static_cast<const void*>(a.v8),
                        static_cast<const void*>(a.k_exp), static_cast<const void*>(a.v_exp),
                        static_cast<const void*>(a.block_tables), static_cast<const void*>(out),
                        static_cast<const void*>(d_rows), static_cast<const void*>(d_tile)}) {
    cudaFree(const_cast<void*>(p));
  }
}

}  // namespace

TEST(fp8_decode_and_prefill_attention_match_double_reference) {
  check_attention(8, 2, 128, Dt::kBF16, 2e-2);
  check_attention(8, 8, 64, Dt::kF32, 1e-4);
  check_attention(32, 8, 128, Dt::kF32, 1e-4);
  check_attention(4, 4, 256, Dt::kBF16, 2e-2);
  check_attention(8, 4, 8, Dt::kF32, 1e-4);  // stories260k's head_dim
}

TEST(fp8_gemv_matches_double_reference) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int kblock : {0, 128}) {  // 0: per-channel (one scale per row)
    for (int M : {1, 8, 33}) {
      const int N = 300, K = 1024, kb = kblock == 0 ? K : kblock, nkb = (K + kb - 1) / kb;
      std::vector<uint8_t> W(static_cast<size_t>(N) * K);
      for (uint8_t& b : W) {
        b = static_cast<uint8_t>(byte(rng));
        if ((b & 0x7f) == 0x7f) b = 0x3c;  // no NaN
      }
      std::vector<float> sc(static_cast<size_t>(N) * nkb);
      for (float& s : sc) s = 0.001f + 0.01f * std::fabs(u(rng));
      std::vector<uint16_t> A(static_cast<size_t>(M) * K);
      for (uint16_t& a : A) a = deepinfer::f32_to_bf16(u(rng));
      std::vector<float> C0(static_cast<size_t>(M) * N, 0.5f);
      uint8_t* dW = dev(W);
      float* dS = dev(sc);
      uint16_t* dA = dev(A);
      float* dC = dev(C0);
      deepinfer::cuda::launch_gemv_fp8(dA, Dt::kBF16, dW, dS, kb, dC, M, N, K, N, true, nullptr);
      const auto C = host(dC, C0.size());
      double worst = 0.0;
      for (int m = 0; m < M; ++m) {
        for (int n = 0; n < N; ++n) {
          double ref = 0.5, mag = 0.0;
          for (int k = 0; k < K; ++k) {
            const double w = static_cast<double>(deepinfer::f8e4m3_to_f32(W[static_cast<size_t>(n) * K + k])) *
                             sc[static_cast<size_t>(n) * nkb + k / kb];
            const double p = w * deepinfer::bf16_to_f32(A[static_cast<size_t>(m) * K + k]);
            ref += p;
            mag += std::fabs(p);
          }
          worst = std::max(worst, std::fabs(ref - C[static_cast<size_t>(m) * N + n]) / std::max(mag, 1e-30));
        }
      }
      std::printf("  gemv_fp8 M %d N %d K %d kblock %d: max error %.2e of the sum of |products|\n", M, N, K, kb, worst);
      CHECK_MSG(worst <= 1e-4, "%.3g", worst);
      for (void* p : {static_cast<void*>(dW), static_cast<void*>(dS), static_cast<void*>(dA), static_cast<void*>(dC)}) {
        cudaFree(p);
      }
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
