#include "backends/cuda/step_plan.h"

#include <algorithm>

namespace deepinfer {
namespace cuda {

void build_step_plan(const ForwardBatch& b, int bs, StepPlan* p, int decode_threshold) {
  const size_t T = static_cast<size_t>(b.num_tokens);
  p->tokens.assign(b.token_ids, b.token_ids + T);
  p->positions.assign(b.positions, b.positions + T);
  p->slots.resize(T);
  p->block_tables.clear();
  p->decode_rows.clear();
  p->prefill_tiles.clear();
  p->logit_rows.assign(b.logit_rows, b.logit_rows + b.num_logit_rows);
  p->max_decode_parts = 0;
  for (int32_t i = 0; i < b.num_seqs; ++i) {
    const SeqSpan& s = b.seqs[i];
    const int32_t end = s.start_pos + s.num_tokens;
    const int32_t nb = (end + bs - 1) / bs;
    const int32_t bt = static_cast<int32_t>(p->block_tables.size());
    p->block_tables.insert(p->block_tables.end(), s.block_table, s.block_table + nb);
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      const int32_t pos = s.start_pos + j;
      p->slots[static_cast<size_t>(s.token_offset + j)] =
          static_cast<int64_t>(s.block_table[pos / bs]) * bs + pos % bs;
    }
    if (s.num_tokens <= decode_threshold) {
      for (int32_t j = 0; j < s.num_tokens; ++j) {
        DecodeRow d{};
        d.row = s.token_offset + j;
        d.n_keys = s.start_pos + j + 1;
        d.bt_offset = bt;
        d.num_parts = decode_parts(d.n_keys);
        d.part_len = decode_part_len(d.n_keys);
        p->max_decode_parts = std::max(p->max_decode_parts, d.num_parts);
        p->decode_rows.push_back(d);
      }
    } else {
      for (int32_t j = 0; j < s.num_tokens; j += kPrefillTileRows) {
        PrefillTile t{};
        t.row0 = s.token_offset + j;
        t.n_rows = std::min(kPrefillTileRows, s.num_tokens - j);
        t.pos0 = s.start_pos + j;
        t.bt_offset = bt;
        p->prefill_tiles.push_back(t);
      }
    }
  }
}

}  // namespace cuda
}  // namespace deepinfer
