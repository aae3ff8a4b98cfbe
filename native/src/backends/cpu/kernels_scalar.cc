// Portable reference path. The matmul uses std::fma so it is bit-identical to the vector
// paths (see kernels.h); everything else is plain C++.
#include <cmath>
#include <cstring>

#include "backends/cpu/kernels.h"

namespace deepinfer {
namespace cpu {
namespace {

// T tokens against panels [p0, p1): one fma chain per output over k in order (kernels.h), with
// the weight of panel p's row j at column k given by weight(p, k, j).
template <class Weight>
void panel_matmul(const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1, float* C, int ldc,
                  bool accumulate, Weight weight) {
  const int K = W.k;
  for (int p = p0; p < p1; ++p) {
    const int n0 = p * kPanel;
    const int cols = W.n - n0 < kPanel ? W.n - n0 : kPanel;
    for (int t = 0; t < T; ++t) {
      const float* a = A + static_cast<size_t>(t) * lda;
      float acc[kPanel] = {0};
      for (int k = 0; k < K; ++k) {
        for (int j = 0; j < kPanel; ++j) acc[j] = std::fma(a[k], weight(p, k, j), acc[j]);
      }
      float* c = C + static_cast<size_t>(t) * ldc + n0;
      for (int j = 0; j < cols; ++j) c[j] = accumulate ? c[j] + acc[j] : acc[j];
    }
  }
}

void matmul(const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1, float* C, int ldc,
            bool accumulate) {
  panel_matmul(A, lda, T, W, p0, p1, C, ldc, accumulate,
               [&W](int p, int k, int j) { return W.data[(static_cast<size_t>(p) * W.k + k) * kPanel + j]; });
}

// FP8 panels: each weight is e4m3(byte) * scale rounded to f32, as the vector paths compute it.
void matmul_q8(const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1, float* C, int ldc,
               bool accumulate) {
  const int nkb = W.q8_kblocks();
  panel_matmul(A, lda, T, W, p0, p1, C, ldc, accumulate, [&W, nkb](int p, int k, int j) {
    const uint8_t b = W.q8[(static_cast<size_t>(p) * W.k + k) * kPanel + j];
    const uint32_t bits = (static_cast<uint32_t>(b & 0x80) << 24) | (static_cast<uint32_t>(b & 0x7f) << 20);
    float v;
    std::memcpy(&v, &bits, 4);
    return (v * 0x1p120f) * W.q8_scales[(static_cast<size_t>(p) * kPanel + j) * nkb + k / W.q8_kblock];
  });
}

float dot(const float* a, const float* b, int n) {
  // Sequential sum: the SIMD paths use lane-parallel sums, so the paths agree to rounding
  // only (each path on its own is deterministic for a given n).
  float s = 0.f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

void scale(float* y, float a, int n) {
  for (int i = 0; i < n; ++i) y[i] *= a;
}

float exp_sub_sum(float* x, float m, int n) {
  float s = 0.f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  return s;
}

void silu_mul(const float* g, const float* u, float* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
}

float sum_squares(const float* x, int n) {
  float s = 0.f;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

void scale_mul(const float* x, float inv, const float* w, float* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = (x[i] * inv) * w[i];
}

void attn_scores(const float* q, const float* k, size_t stride, int n, int hd, float scale, float* s) {
  for (int j = 0; j < n; ++j) s[j] = dot(q, k + static_cast<size_t>(j) * stride, hd) * scale;
}

void attn_accum(const float* p, const float* v, size_t stride, int n, int hd, float* out) {
  for (int j = 0; j < n; ++j) axpy(p[j], v + static_cast<size_t>(j) * stride, out, hd);
}

void dequant_e4m3(const uint8_t* q, float scale, int n, float* out) {
  // The byte's bits moved into an f32's, times 2^120: exact (as V::load_e4m3 does).
  for (int i = 0; i < n; ++i) {
    const uint32_t u = (static_cast<uint32_t>(q[i] & 0x80) << 24) | (static_cast<uint32_t>(q[i] & 0x7f) << 20);
    float f;
    std::memcpy(&f, &u, 4);
    out[i] = (f * 0x1p120f) * scale;
  }
}

// fp8 K/V in place: each element (bits * 2^120) * 2^e exactly as dequant_e4m3 forms it, then
// the sums of dot / axpy in the same order, so the same bits as dequantising first.
float e4m3_times_pow2(uint8_t b, float pow2e) {
  const uint32_t u = (static_cast<uint32_t>(b & 0x80) << 24) | (static_cast<uint32_t>(b & 0x7f) << 20);
  float f;
  std::memcpy(&f, &u, 4);
  return (f * 0x1p120f) * pow2e;
}

float pow2_exact(int e) {
  const uint32_t u = static_cast<uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void attn_scores_e4m3(const float* q, const uint8_t* k, const int8_t* k_exp, size_t stride, size_t exp_stride, int n,
                      int hd, float scale, float* s) {
  for (int j = 0; j < n; ++j) {
    const uint8_t* kj = k + static_cast<size_t>(j) * stride;
    const float pe = pow2_exact(k_exp[static_cast<size_t>(j) * exp_stride]);
    float acc = 0.f;
    for (int i = 0; i < hd; ++i) acc += q[i] * e4m3_times_pow2(kj[i], pe);
    s[j] = acc * scale;
  }
}

void attn_accum_e4m3(const float* p, const uint8_t* v, const int8_t* v_exp, size_t stride, size_t exp_stride, int n,
                     int hd, float* out) {
  for (int j = 0; j < n; ++j) {
    const uint8_t* vj = v + static_cast<size_t>(j) * stride;
    const float pe = pow2_exact(v_exp[static_cast<size_t>(j) * exp_stride]);
    for (int i = 0; i < hd; ++i) out[i] += p[j] * e4m3_times_pow2(vj[i], pe);
  }
}

const KernelTable kTable = {"scalar", matmul, matmul_q8, dot, axpy, scale, exp_sub_sum, silu_mul, sum_squares, scale_mul,
                            attn_scores, attn_accum, dequant_e4m3,
                            attn_scores_e4m3, attn_accum_e4m3};

}  // namespace

const KernelTable& scalar_kernels() { return kTable; }

}  // namespace cpu
}  // namespace deepinfer
