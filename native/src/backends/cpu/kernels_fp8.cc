#include <cstdlib>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/safetensors.h"

namespace deepinfer {
namespace cpu {

const float* e4m3_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(256);
    for (int b = 0; b < 256; ++b) t[static_cast<size_t>(b)] = f8e4m3_to_f32(static_cast<uint8_t>(b));
    return t;
  }();
  return table.data();
}

namespace {

/** Token counts up to which matmul_packed converts FP8 weights in registers (measured: docs/performance.md). */
constexpr int kDirectFp8Tokens = 16;

// A thread's dequantized panels, 64-byte aligned, grown on demand and kept for the next step.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t floats) {
    if (floats > n) {
      std::free(p);
      p = nullptr;
      if (posix_memalign(reinterpret_cast<void**>(&p), 64, ((floats * sizeof(float) + 63) / 64) * 64) != 0) p = nullptr;
      n = p != nullptr ? floats : 0;
    }
    return p;
  }
};

// Panels [p, p + np) of W, dequantized into dst in the f32 panel layout.
void dequantize_panels(const PackedMatrix& W, int p, int np, float* dst) {
  const float* lut = e4m3_table();
  const size_t K = static_cast<size_t>(W.k);
  const int nkb = W.q8_kblocks();
  for (int q = 0; q < np; ++q) {
    const uint8_t* src = W.q8 + static_cast<size_t>(p + q) * K * kPanel;
    float* out = dst + static_cast<size_t>(q) * K * kPanel;
    const float* scale_rows = W.q8_scales + static_cast<size_t>(p + q) * kPanel * nkb;
    for (size_t k0 = 0; k0 < K; k0 += static_cast<size_t>(W.q8_kblock)) {
      const size_t k1 = k0 + static_cast<size_t>(W.q8_kblock) < K ? k0 + static_cast<size_t>(W.q8_kblock) : K;
      const int kb = static_cast<int>(k0 / static_cast<size_t>(W.q8_kblock));
      float s[kPanel];
      for (int j = 0; j < kPanel; ++j) s[j] = scale_rows[static_cast<size_t>(j) * nkb + kb];
      for (size_t k = k0; k < k1; ++k) {
        for (int j = 0; j < kPanel; ++j) out[k * kPanel + j] = lut[src[k * kPanel + j]] * s[j];
      }
    }
  }
}

}  // namespace

void matmul_packed(const KernelTable& table, const float* A, int lda, int T, const PackedMatrix& W, int p0, int p1,
                   float* C, int ldc, bool accumulate) {
  if (W.q8 == nullptr) {
    table.matmul(A, lda, T, W, p0, p1, C, ldc, accumulate);
    return;
  }
  // Few tokens (decode): convert in registers; each weight is then used T times, so a buffer's
  // write and read (8 bytes per 1-byte weight) would cost more than the bytes themselves. Many
  // tokens (prefill): dequantize into the buffer once and run the f32 kernel's larger tiles.
  // Both give the same bits (kernels.h), so the choice never changes results.
  if (T <= kDirectFp8Tokens) {
    table.matmul_q8(A, lda, T, W, p0, p1, C, ldc, accumulate);
    return;
  }
  // About 256 KiB of f32 panels at a time (they stay in L2 while every token runs over them),
  // at least one panel.
  const size_t panel_floats = static_cast<size_t>(W.k) * kPanel;
  int blk = static_cast<int>((256 * 1024) / (panel_floats * sizeof(float)));
  blk = blk < 1 ? 1 : blk > 16 ? 16 : blk;
  thread_local Scratch scratch;
  float* buf = scratch.get(panel_floats * static_cast<size_t>(blk));
  if (buf == nullptr) std::abort();  // out of memory for a few hundred KiB: nothing sensible left
  for (int pb = p0; pb < p1; pb += blk) {
    const int np = p1 - pb < blk ? p1 - pb : blk;
    dequantize_panels(W, pb, np, buf);
    // The block as an f32 matrix of its own: its column 0 is W's column pb * kPanel.
    PackedMatrix view;
    view.k = W.k;
    view.n = W.n - pb * kPanel < np * kPanel ? W.n - pb * kPanel : np * kPanel;
    view.data = buf;
    table.matmul(A, lda, T, view, 0, np, C + static_cast<size_t>(pb) * kPanel, ldc, accumulate);
  }
}

}  // namespace cpu
}  // namespace deepinfer
