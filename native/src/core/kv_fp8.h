// The FP8 KV cache (kv_cache_dtype fp8): K and V stored as OCP E4M3 bytes with one scale per
// (slot, kv head), shared by every backend (the CPU backend, the CUDA kv_write/attention
// kernels and the tests' references implement exactly this).
//
// Scale scheme: dynamic, per token and kv head, a power of two written with the row.
//   e = ceil(log2(amax / 448)) over the head's hd values (0 when amax is 0), clamped to
//   [-126, 126]; byte[i] = e4m3(x[i] * 2^-e) (round to nearest even); x[i] ~ e4m3(byte) * 2^e.
// Why: with no calibration data (the checkpoints we serve carry no k_scale/v_scale) a static
// scale of 1.0 (vLLM's default) overflows at 448 and flushes small values, while a scale per
// token and head fits whatever the layer produces, needs no re-quantisation of earlier tokens
// (a per-block scale would change as the block fills) and is written by the thread that writes
// the row. A power of two makes the scaling exact: E4M3's relative precision (3 mantissa bits,
// about 2^-4 relative error bound) is the same at any scale, so a free f32 scale would gain
// nothing but the top half-binade, and the exponent fits in one signed byte.
// Memory: hd + 1 bytes per (slot, kv head) instead of 4 hd (f32) or 2 hd (bf16): 3.94x the
// blocks of f32 at hd 64, 1.98x of bf16 at hd 128.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/safetensors.h"

namespace deepinfer {

constexpr float kE4m3Max = 448.f;

// The exponent e of a row whose largest magnitude is amax (see above).
inline int8_t kv_fp8_exponent(float amax) {
  if (!(amax > 0.f) || !std::isfinite(amax)) return 0;
  int e = static_cast<int>(std::ceil(std::log2(amax / kE4m3Max)));
  // log2 can be off by one ulp at exact powers of two: settle on the smallest e with
  // amax * 2^-e <= 448 by exact comparisons (the CUDA kernel does the same: same bits).
  while (std::ldexp(amax, -e) > kE4m3Max) ++e;
  while (std::ldexp(amax, -(e - 1)) <= kE4m3Max) --e;
  return static_cast<int8_t>(e < -126 ? -126 : e > 126 ? 126 : e);
}

// 2^e as an f32, for e in [-126, 127] (a normal number: exact, no libm call).
inline float kv_fp8_pow2(int e) {
  const uint32_t u = static_cast<uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// f32_to_f8e4m3 (safetensors.cc) by bit arithmetic, for the KV writer's hot loop: the same
// byte for every finite input and NaN (test_kv_fp8 checks them against each other).
inline uint8_t kv_fp8_encode(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7f;                   // NaN
  if (a >= 0x43e00000u) return sign | 0x7e;           // >= 448: saturate
  if (a < 0x3c800000u) {                               // below 2^-6: steps of 2^-9, ties to even
    const float y = std::fabs(f) * 512.f + 8388608.f;  // 2^23: the sum's last bits are the rounded value
    uint32_t v;
    std::memcpy(&v, &y, 4);
    return sign | static_cast<uint8_t>(v - 0x4b000000u);
  }
  a += 0x7ffffu + ((a >> 20) & 1u);  // round the mantissa to 3 bits, ties to even
  const uint32_t code = (a >> 20) - (120u << 3);  // rebias 127 -> 7
  return sign | static_cast<uint8_t>(code > 0x7eu ? 0x7eu : code);
}

// Quantises n values of x into q; returns the row's exponent.
inline int8_t kv_fp8_quantize_row(const float* x, int n, uint8_t* q) {
  float amax = 0.f;
  for (int i = 0; i < n; ++i) amax = std::fabs(x[i]) > amax ? std::fabs(x[i]) : amax;
  const int8_t e = kv_fp8_exponent(amax);
  const float inv = kv_fp8_pow2(-e);
  for (int i = 0; i < n; ++i) q[i] = kv_fp8_encode(x[i] * inv);
  return e;
}

}  // namespace deepinfer
