// Host-side plan of one step for the CUDA kernels: plain C++ (no CUDA), so the block-table
// arithmetic is shared with, and unit-tested against, the CPU backend's rule
//   slot(p) = block_table[p / block_size] * block_size + p % block_size.
// Built once per step into one host buffer and copied to the device in one transfer.
#pragma once

#include <cstdint>
#include <vector>

#include "core/step.h"

namespace deepinfer {
namespace cuda {

// A query row attended by the split-K decode kernel (sequences running one token).
struct DecodeRow {
  int32_t row;        // row in [0, T)
  int32_t n_keys;     // keys it attends: its position + 1
  int32_t bt_offset;  // first entry of its block table in StepPlan::block_tables
  int32_t num_parts;  // partitions of the context (split-K), decode_parts(n_keys)
  int32_t part_len;   // keys per partition (a multiple of kDecodeChunk)
  int32_t pad_[3];
};

// A tile of up to kPrefillTileRows consecutive rows of one sequence (prefill chunks).
struct PrefillTile {
  int32_t row0;       // first row in [0, T)
  int32_t n_rows;     // 1..kPrefillTileRows
  int32_t pos0;       // position of row0; row i is at pos0 + i and attends keys [0, pos0 + i]
  int32_t bt_offset;  // first entry of its block table in StepPlan::block_tables
};

constexpr int kDecodeChunk = 64;       // keys per chunk inside a decode partition
constexpr int kDecodeMaxParts = 16;    // split-K partitions at most
constexpr int kDecodeMinPartLen = 256; // keys per partition at least
constexpr int kPrefillTileRows = 64;

// Split-K partitioning of a decode row: a function of its own context length only, so a row's
// result never depends on the rest of the batch.
inline int32_t decode_parts(int32_t n_keys) {
  int32_t p = (n_keys + kDecodeMinPartLen - 1) / kDecodeMinPartLen;
  return p < 1 ? 1 : (p > kDecodeMaxParts ? kDecodeMaxParts : p);
}
inline int32_t decode_part_len(int32_t n_keys) {
  const int32_t p = decode_parts(n_keys);
  const int32_t per = (n_keys + p - 1) / p;
  return (per + kDecodeChunk - 1) / kDecodeChunk * kDecodeChunk;
}

struct StepPlan {
  std::vector<int32_t> tokens;        // [T]
  std::vector<int32_t> positions;     // [T]
  std::vector<int64_t> slots;         // [T] K/V slot of every row
  std::vector<int32_t> block_tables;  // concatenated block tables of the sequences
  std::vector<DecodeRow> decode_rows;
  std::vector<PrefillTile> prefill_tiles;
  std::vector<int32_t> logit_rows;    // [R]
  int32_t max_decode_parts = 0;
};

// Sequences with exactly one token go to the decode kernel, longer ones are cut into tiles.
// `decode_threshold` (tests) sends sequences with num_tokens <= it to the decode kernel.
void build_step_plan(const ForwardBatch& b, int block_size, StepPlan* plan, int decode_threshold = 1);

}  // namespace cuda
}  // namespace deepinfer
