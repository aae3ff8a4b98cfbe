// The batch that a backend's forward pass runs: all tokens of all sequences of one step,
// flattened into one [T, hidden] activation matrix so every weight is read once per step.
#pragma once

#include <cstdint>

namespace deepinfer {

struct SeqSpan {
  int32_t token_offset;        // first row of this sequence in the flattened [T] arrays
  int32_t num_tokens;          // rows [token_offset, token_offset + num_tokens)
  int32_t start_pos;           // position of its first row; positions are contiguous
  const int32_t* block_table;  // [num_blocks] covering positions [0, start_pos + num_tokens)
  int32_t num_blocks;
};

struct ForwardBatch {
  int32_t num_tokens = 0;              // T
  const int32_t* token_ids = nullptr;  // [T]
  const int32_t* positions = nullptr;  // [T]
  const int32_t* token_seq = nullptr;  // [T] index into seqs
  int32_t num_seqs = 0;
  const SeqSpan* seqs = nullptr;       // [num_seqs]
  // Rows whose logits are wanted (each sequence's last row when it samples), in output order.
  int32_t num_logit_rows = 0;               // R
  const int32_t* logit_rows = nullptr;      // [R] row indices into [0, T)
};

}  // namespace deepinfer
