#include "backends/cuda/graph_plan.h"

#include <cstring>

namespace deepinfer {
namespace cuda {

namespace {
constexpr int kBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256};
size_t align16(size_t v) { return (v + 15) / 16 * 16; }
}  // namespace

int graph_bucket(int n) {
  if (n <= 0) return 0;
  for (int b : kBuckets) {
    if (n <= b) return b;
  }
  return 0;
}

GraphPlanLayout graph_plan_layout(size_t bt_capacity) {
  GraphPlanLayout L;
  const size_t B = kMaxGraphBatch;
  L.tokens = 0;
  L.positions = align16(L.tokens + 4 * B);
  L.logit_rows = align16(L.positions + 4 * B);
  L.slots = align16(L.logit_rows + 4 * B);
  L.decode_rows = align16(L.slots + 8 * B);
  L.block_tables = align16(L.decode_rows + sizeof(DecodeRow) * B);
  L.bt_capacity = bt_capacity;
  L.bytes = L.block_tables + 4 * bt_capacity;
  return L;
}

bool graph_eligible(const StepPlan& plan, int num_logit_rows, const GraphPlanLayout& layout) {
  const size_t T = plan.tokens.size();
  if (T == 0 || T > kMaxGraphBatch || !plan.prefill_tiles.empty()) return false;
  if (plan.decode_rows.size() != T || static_cast<size_t>(num_logit_rows) != T) return false;
  for (size_t i = 0; i < T; ++i) {
    if (plan.logit_rows[i] != static_cast<int32_t>(i)) return false;
  }
  return plan.block_tables.size() <= layout.bt_capacity;
}

size_t pack_graph_plan(const StepPlan& plan, int bucket, const GraphPlanLayout& L, char* host) {
  const size_t T = plan.tokens.size();
  auto* tok = reinterpret_cast<int32_t*>(host + L.tokens);
  auto* pos = reinterpret_cast<int32_t*>(host + L.positions);
  auto* lr = reinterpret_cast<int32_t*>(host + L.logit_rows);
  auto* slots = reinterpret_cast<int64_t*>(host + L.slots);
  auto* dec = reinterpret_cast<DecodeRow*>(host + L.decode_rows);
  std::memcpy(tok, plan.tokens.data(), 4 * T);
  std::memcpy(pos, plan.positions.data(), 4 * T);
  std::memcpy(slots, plan.slots.data(), 8 * T);
  std::memcpy(dec, plan.decode_rows.data(), sizeof(DecodeRow) * T);
  for (size_t i = 0; i < static_cast<size_t>(bucket); ++i) lr[i] = static_cast<int32_t>(i);
  for (size_t i = T; i < static_cast<size_t>(bucket); ++i) {
    tok[i] = 0;
    pos[i] = 0;
    slots[i] = -1;
    DecodeRow d{};
    d.row = static_cast<int32_t>(i);
    d.n_keys = 1;
    d.bt_offset = 0;
    d.num_parts = 1;
    d.part_len = kDecodeChunk;
    dec[i] = d;
  }
  std::memcpy(host + L.block_tables, plan.block_tables.data(), 4 * plan.block_tables.size());
  return L.block_tables + 4 * plan.block_tables.size();
}

}  // namespace cuda
}  // namespace deepinfer
