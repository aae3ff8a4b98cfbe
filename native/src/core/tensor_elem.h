// Element i of a weight tensor as f32, whatever its stored dtype: for load-time conversions
// (packing, norms, biases), shared by the backends. Not for hot loops.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/safetensors.h"

namespace deepinfer {

inline float tensor_elem_f32(const TensorView& t, size_t i) {
  switch (t.dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, t.data + i * 4, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, t.data + i * 2, 2);
      return bf16_to_f32(h);
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, t.data + i * 2, 2);
      return f16_to_f32(h);
    }
    case DType::kF8E4M3:
      return f8e4m3_to_f32(t.data[i]);  // unscaled: the scales are separate tensors (weights.h)
  }
  return 0.f;
}

}  // namespace deepinfer
