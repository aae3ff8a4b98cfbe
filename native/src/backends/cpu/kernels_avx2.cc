// AVX2 + FMA path (8 floats per vector).
#include <immintrin.h>

#include "backends/cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace deepinfer {
namespace cpu {
namespace avx2 {

struct V {
  using reg = __m256;
  static constexpr int kWidth = 8;
  // Tile shapes (tokens x panels): 12 accumulators for >= 4 tokens, 8 for 1-3 tokens.
  static constexpr int kNp1 = 4, kNp2 = 2, kNp3 = 2, kNp4 = 1, kNp5 = 1, kMrBig = 6, kNpBig = 1;
  static reg load(const float* p) { return _mm256_load_ps(p); }
  static reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg bcast(float x) { return _mm256_set1_ps(x); }
  static reg zero() { return _mm256_setzero_ps(); }
  // 8 E4M3 bytes as their exact f32 values (kernels_simd.inc, e4m3_bits).
  static reg load_e4m3(const uint8_t* p) {
    const __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x80)), 24);
    const __m256i mag = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7f)), 20);
    return _mm256_mul_ps(_mm256_castsi256_ps(_mm256_or_si256(sign, mag)), _mm256_set1_ps(0x1p120f));
  }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static float hsum(reg v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, s);
    s = _mm_add_ss(s, sh);
    return _mm_cvtss_f32(s);
  }
  // Cephes-style expf: range reduction by ln2 in two parts, degree-6 polynomial, 2^n by
  // exponent bits. Relative error ~2 ulp on [-87, 88]; inputs are clamped to that range.
  static reg exp(reg x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365478515625f));
    reg fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    reg y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
    __m256i n = _mm256_cvttps_epi32(fx);
    n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
  }
};

#include "backends/cpu/kernels_simd.inc"

const KernelTable kTable = {"avx2", matmul, matmul_q8, dot, axpy, scale, exp_sub_sum, silu_mul, sum_squares, scale_mul,
                             attn_scores, attn_accum, dequant_e4m3,
                             attn_scores_e4m3, attn_accum_e4m3};

}  // namespace avx2
}  // namespace cpu
}  // namespace deepinfer

#pragma GCC pop_options

namespace deepinfer {
namespace cpu {
const KernelTable* avx2_kernels() {
  return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? &avx2::kTable : nullptr;
}
}  // namespace cpu
}  // namespace deepinfer

#else
namespace deepinfer {
namespace cpu {
const KernelTable* avx2_kernels() { return nullptr; }
}  // namespace cpu
}  // namespace deepinfer
#endif
