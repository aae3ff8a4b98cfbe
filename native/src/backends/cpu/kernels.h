// CPU kernels, one table per instruction set, chosen once at run time.
//
// Batch invariance and path agreement: every matmul output is accumulated with one fused
// multiply-add per k, in increasing k, starting from 0 (acc = fma(a[k], w[k], acc)). That
// order does not depend on how tokens or rows are tiled, on the number of tokens in the step,
// on the thread count, or on the vector width - so the matmul of the scalar, AVX2 and AVX-512
// paths is bit-identical, and a token's logits do not depend on its batch. (The price: one
// accumulator chain per output, which is why tiles cover many outputs at once.)
// Other kernels (dot, exp, norms) have a fixed order for a given length, so they are
// batch-invariant too; across instruction sets they agree to rounding (tested).
#pragma once

#include <cstddef>
#include <cstdint>

namespace deepinfer {
namespace cpu {

// Output rows per packed weight panel. Fixed for every instruction set so one packed copy
// serves all paths (AVX2: two 8-float vectors per panel row; AVX-512: one).
constexpr int kPanel = 16;

// A weight matrix W [N, K] (HF [out_features, in_features]) repacked as
//   data [num_panels][K][kPanel],   data[p][k][j] = W[p*kPanel + j][k]  (0 for rows >= N)
// so the matmul streams each panel once, contiguously, and reuses it for every token.
struct PackedMatrix {
  int n = 0;              // N, output features
  int k = 0;              // K, input features
  float* data = nullptr;  // [num_panels()][k][kPanel], 64-byte aligned, owned by the backend
  // FP8 weights instead (data == nullptr): the same panel layout of E4M3 bytes, and one f32
  // scale per output row and run of q8_kblock columns: q8_scales[row * q8_kblocks() + k / q8_kblock]
  // (rows past n have scale 0). W[n][k] = e4m3(q8[..]) * scale, rounded to f32.
  const uint8_t* q8 = nullptr;
  const float* q8_scales = nullptr;
  int q8_kblock = 0;
  int num_panels() const { return (n + kPanel - 1) / kPanel; }
  int q8_kblocks() const { return (k + q8_kblock - 1) / q8_kblock; }
};

struct KernelTable {
  const char* name;
  // C[t][n] = (accumulate ? C[t][n] : 0) + sum_k A[t][k] * W[n][k]
  // for t in [0, T) and the output rows of panels [p0, p1). A: [T][lda], C: [T][ldc].
  // Writes only columns n < W.n.
  void (*matmul)(const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1, float* C, int ldc,
                 bool accumulate);
  // The same for FP8 panels (W.q8), converting the bytes in registers: for few tokens (decode),
  // where dequantizing into a buffer first would cost more than the weights' own bytes. Each
  // weight is e4m3(byte) * scale rounded to f32 and each output one fma chain over k in order,
  // so the result is bit-identical to matmul over the dequantized f32 panels (matmul_packed
  // picks either by token count).
  void (*matmul_q8)(const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1, float* C, int ldc,
                    bool accumulate);
  float (*dot)(const float* a, const float* b, int n);
  void (*axpy)(float a, const float* x, float* y, int n);  // y += a * x
  void (*scale)(float* y, float a, int n);                 // y *= a
  // x[i] = exp(x[i] - m) for i < n; returns the sum of the new x.
  float (*exp_sub_sum)(float* x, float m, int n);
  // out[i] = silu(g[i]) * u[i]
  void (*silu_mul)(const float* g, const float* u, float* out, int n);
  float (*sum_squares)(const float* x, int n);
  // out[i] = (x[i] * inv) * w[i]   (the HF RMSNorm order)
  void (*scale_mul)(const float* x, float inv, const float* w, float* out, int n);
  // Attention over one KV block: rows j < n of K / V at `stride` floats apart, hd floats each.
  // s[j] = scale * dot(q, k_j)   (a fixed order per (hd, n) and key: the same for any batch)
  void (*attn_scores)(const float* q, const float* k, size_t stride, int n, int hd, float scale, float* s);
  // out[d] += p[j] * v_j[d] for j < n, one fma per key in increasing j (= n axpy calls)
  void (*attn_accum)(const float* p, const float* v, size_t stride, int n, int hd, float* out);
  // out[i] = e4m3(q[i]) * scale for i < n: exact conversion, one rounding (the multiply), so
  // the same bits on every instruction set (the fp8 KV cache's dequantisation).
  void (*dequant_e4m3)(const uint8_t* q, float scale, int n, float* out);
  // attn_scores / attn_accum over fp8 K/V rows read in place (core/kv_fp8.h): row j is the hd
  // E4M3 bytes at k + j * stride with exponent e_j = k_exp[j * exp_stride], its values
  // e4m3(byte) * 2^e_j formed in registers. Bit-identical to dequant_e4m3 of the rows (scale
  // 2^e_j) into f32 followed by attn_scores / attn_accum of the same table: each element gets
  // the same single rounding (exact unless it lands below f32's normal range) and enters the
  // same fma chains. So the backend may pick either way per row without changing results.
  // Vector tables need hd % 8 == 0 (the backend dequantises other head sizes into f32 first).
  void (*attn_scores_e4m3)(const float* q, const uint8_t* k, const int8_t* k_exp, size_t stride, size_t exp_stride,
                           int n, int hd, float scale, float* s);
  void (*attn_accum_e4m3)(const float* p, const uint8_t* v, const int8_t* v_exp, size_t stride, size_t exp_stride,
                          int n, int hd, float* out);
};

// table.matmul over W's panels [p0, p1) whatever W holds. FP8 panels are dequantized a few at
// a time into a per-thread f32 buffer (never the whole matrix) and multiplied by table.matmul,
// so the result is exactly that of the f32 matrix of the dequantized values: same fma order,
// batch-invariant, identical on every instruction set.
void matmul_packed(const KernelTable& table, const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1,
                   float* C, int ldc, bool accumulate);

// E4M3 byte -> f32, for every byte (0x7f and 0xff are NaN).
const float* e4m3_table();

// The table for the best instruction set this CPU supports (AVX-512F > AVX2+FMA > scalar),
// or the one named by DEEPINFER_DEV_CPU_KERNELS=scalar|avx2|avx512 when set and supported.
const KernelTable& kernels();
const KernelTable& scalar_kernels();
// nullptr when not compiled in or not supported by this CPU.
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();

}  // namespace cpu
}  // namespace deepinfer
