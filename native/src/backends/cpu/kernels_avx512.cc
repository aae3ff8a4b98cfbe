// AVX-512F path (16 floats per vector: one vector per panel row).
// GCC 12's avx512fintrin.h trips -Wuninitialized on its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backends/cpu/kernels.h"

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")

namespace deepinfer {
namespace cpu {
namespace avx512 {

struct V {
  using reg = __m512;
  static constexpr int kWidth = 16;
  // 32 vector registers: up to 12-16 accumulators.
  static constexpr int kNp1 = 8, kNp2 = 4, kNp3 = 4, kNp4 = 2, kNp5 = 2, kMrBig = 6, kNpBig = 2;
  static reg load(const float* p) { return _mm512_load_ps(p); }
  static reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg bcast(float x) { return _mm512_set1_ps(x); }
  static reg zero() { return _mm512_setzero_ps(); }
  // 16 E4M3 bytes as their exact f32 values (kernels_simd.inc, e4m3_bits).
  static reg load_e4m3(const uint8_t* p) {
    const __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0x80)), 24);
    const __m512i mag = _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0x7f)), 20);
    return _mm512_mul_ps(_mm512_castsi512_ps(_mm512_or_si512(sign, mag)), _mm512_set1_ps(0x1p120f));
  }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static float hsum(reg v) {
    // Fixed order: fold 512 -> 256 -> 128 -> 32 bits.
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 a = _mm256_castps256_ps128(s8);
    __m128 b = _mm256_extractf128_ps(s8, 1);
    a = _mm_add_ps(a, b);
    __m128 sh = _mm_movehdup_ps(a);
    __m128 s = _mm_add_ps(a, sh);
    sh = _mm_movehl_ps(sh, s);
    s = _mm_add_ss(s, sh);
    return _mm_cvtss_f32(s);
  }
  static reg exp(reg x) {
    x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365478515625f));
    reg fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    reg y = _mm512_set1_ps(1.9875691500E-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.f)));
    __m512i n = _mm512_cvttps_epi32(fx);
    n = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(n));
  }
};

#include "backends/cpu/kernels_simd.inc"

const KernelTable kTable = {"avx512", matmul, matmul_q8, dot, axpy, scale, exp_sub_sum, silu_mul, sum_squares, scale_mul,
                             attn_scores, attn_accum, dequant_e4m3,
                             attn_scores_e4m3, attn_accum_e4m3};

}  // namespace avx512
}  // namespace cpu
}  // namespace deepinfer

#pragma GCC pop_options

namespace deepinfer {
namespace cpu {
const KernelTable* avx512_kernels() { return __builtin_cpu_supports("avx512f") ? &avx512::kTable : nullptr; }
}  // namespace cpu
}  // namespace deepinfer

#else
namespace deepinfer {
namespace cpu {
const KernelTable* avx512_kernels() { return nullptr; }
}  // namespace cpu
}  // namespace deepinfer
#endif
