// Geometry of the paged KV cache. The scheduler owns which block holds which tokens; the
// backend owns the memory. Layout per layer, for K and for V separately:
//   [num_blocks][block_size][num_kv_heads][head_dim]
// so the slot of position p of a sequence is block_table[p / block_size] * block_size +
// p % block_size, and one slot's heads are contiguous (one write per token per layer).
// Why this layout rather than llama.cpp's per-head planes: a decode token reads, for its
// head group, block_size * head_dim contiguous-ish floats per block, and writes are one
// contiguous [num_kv_heads * head_dim] row per token.
#pragma once

#include <cstdint>

namespace deepinfer {

struct KvCacheGeometry {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  int bytes_per_element = 4;  // f32 on the CPU backend, 1 for fp8 (e4m3)
  // Bytes of scale per (slot, kv head) beside the elements: 1 for fp8 (its power-of-two
  // exponent, core/kv_fp8.h), 0 otherwise. Stored in a plane [slots][num_kv_heads] per layer.
  int scale_bytes_per_head = 0;

  int64_t slots() const { return static_cast<int64_t>(num_blocks) * block_size; }
  // Floats (elements) of one layer's K (or V) for all blocks.
  int64_t layer_elements() const { return slots() * num_kv_heads * head_dim; }
  // Bytes of one block over all layers, K and V together.
  int64_t block_bytes() const {
    return 2ll * num_layers * block_size * num_kv_heads * (static_cast<int64_t>(head_dim) * bytes_per_element + scale_bytes_per_head);
  }
};

}  // namespace deepinfer
