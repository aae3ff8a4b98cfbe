// CUDA backend logic that runs without a GPU (so CI checks it): the step plan's K/V slots
// follow the CPU backend's rule, rows are split between the decode and prefill kernels as
// documented, split-K partitions cover each context exactly; CUDA-graph steps are padded to
// their bucket with inert rows; backend selection reports a missing GPU clearly and
// DI_BACKEND_AUTO falls back to the CPU.
#include <algorithm>

#include "backends/cuda/graph_plan.h"
#include "backends/cuda/step_plan.h"
#include "test_util.h"

using namespace ditest;
using deepinfer::cuda::build_step_plan;
using deepinfer::cuda::decode_part_len;
using deepinfer::cuda::decode_parts;
using deepinfer::cuda::StepPlan;

TEST(slots_follow_the_block_table_rule) {
  const int bs = 4;
  std::vector<int32_t> bt_a{7, 3, 9}, bt_b{1, 0};
  // a: 5-token prefill chunk at positions 3..7; b: one decode token at position 6.
  std::vector<int32_t> tokens{10, 11, 12, 13, 14, 20}, positions{3, 4, 5, 6, 7, 6}, seq{0, 0, 0, 0, 0, 1};
  deepinfer::SeqSpan spans[2] = {{0, 5, 3, bt_a.data(), 3}, {5, 1, 6, bt_b.data(), 2}};
  deepinfer::ForwardBatch b;
  b.num_tokens = 6;
  b.token_ids = tokens.data();
  b.positions = positions.data();
  b.token_seq = seq.data();
  b.num_seqs = 2;
  b.seqs = spans;
  int32_t lr[2] = {4, 5};
  b.num_logit_rows = 2;
  b.logit_rows = lr;
  StepPlan p;
  build_step_plan(b, bs, &p);
  for (int t = 0; t < 6; ++t) {
    const auto& s = spans[seq[static_cast<size_t>(t)]];
    const int pos = positions[static_cast<size_t>(t)];
    CHECK_EQ(p.slots[static_cast<size_t>(t)], static_cast<int64_t>(s.block_table[pos / bs]) * bs + pos % bs);
  }
  CHECK_EQ(p.decode_rows.size(), 1u);
  CHECK_EQ(p.decode_rows[0].row, 5);
  CHECK_EQ(p.decode_rows[0].n_keys, 7);
  CHECK_EQ(p.prefill_tiles.size(), 1u);
  CHECK_EQ(p.prefill_tiles[0].row0, 0);
  CHECK_EQ(p.prefill_tiles[0].n_rows, 5);
  CHECK_EQ(p.prefill_tiles[0].pos0, 3);
  // Block tables are concatenated; each sequence's offset points at its own table.
  CHECK_EQ(p.block_tables[static_cast<size_t>(p.prefill_tiles[0].bt_offset) + 1], 3);
  CHECK_EQ(p.block_tables[static_cast<size_t>(p.decode_rows[0].bt_offset) + 1], 0);
}

TEST(long_prefill_is_cut_into_64_row_tiles) {
  std::vector<int32_t> bt(64);
  for (int i = 0; i < 64; ++i) bt[static_cast<size_t>(i)] = 63 - i;
  const int T = 150;
  std::vector<int32_t> tokens(T, 1), positions(T), seq(T, 0);
  for (int i = 0; i < T; ++i) positions[static_cast<size_t>(i)] = 10 + i;
  deepinfer::SeqSpan span{0, T, 10, bt.data(), 64};
  deepinfer::ForwardBatch b;
  b.num_tokens = T;
  b.token_ids = tokens.data();
  b.positions = positions.data();
  b.token_seq = seq.data();
  b.num_seqs = 1;
  b.seqs = &span;
  StepPlan p;
  build_step_plan(b, 16, &p);
  CHECK_EQ(p.prefill_tiles.size(), 3u);
  int covered = 0;
  for (const auto& t : p.prefill_tiles) {
    CHECK_EQ(t.row0, covered);
    CHECK_EQ(t.pos0, 10 + covered);
    covered += t.n_rows;
  }
  CHECK_EQ(covered, T);
}

TEST(split_k_partitions_cover_the_context_and_depend_only_on_it) {
  for (int n = 1; n < 200000; n = n < 600 ? n + 1 : n * 3 / 2) {
    const int parts = decode_parts(n), len = decode_part_len(n);
    CHECK(parts >= 1 && parts <= deepinfer::cuda::kDecodeMaxParts);
    CHECK(len % deepinfer::cuda::kDecodeChunk == 0);
    CHECK_MSG(static_cast<int64_t>(parts) * len >= n, "n=%d parts=%d len=%d", n, parts, len);
    CHECK_MSG(len >= 1, "n=%d", n);
  }
}

// A decode-only step of n sequences, sequence i at position 5 + 3 i with a 2-entry table.
static StepPlan decode_plan(int n, std::vector<std::vector<int32_t>>* tables, std::vector<int32_t>* lr) {
  std::vector<int32_t> tokens, positions, seq;
  std::vector<deepinfer::SeqSpan> spans;
  tables->assign(static_cast<size_t>(n), {});
  lr->clear();
  for (int i = 0; i < n; ++i) {
    (*tables)[static_cast<size_t>(i)] = {2 * i + 1, 2 * i};
    tokens.push_back(100 + i);
    positions.push_back(5 + 3 * i % 7);
    seq.push_back(i);
    lr->push_back(i);
  }
  for (int i = 0; i < n; ++i) {
    spans.push_back({i, 1, positions[static_cast<size_t>(i)], (*tables)[static_cast<size_t>(i)].data(), 2});
  }
  deepinfer::ForwardBatch b;
  b.num_tokens = n;
  b.token_ids = tokens.data();
  b.positions = positions.data();
  b.token_seq = seq.data();
  b.num_seqs = n;
  b.seqs = spans.data();
  b.num_logit_rows = n;
  b.logit_rows = lr->data();
  StepPlan p;
  build_step_plan(b, 4, &p);
  return p;
}

TEST(graph_buckets_and_padding_rows_are_inert) {
  using namespace deepinfer::cuda;
  CHECK_EQ(graph_bucket(0), 0);
  CHECK_EQ(graph_bucket(1), 1);
  CHECK_EQ(graph_bucket(3), 4);
  CHECK_EQ(graph_bucket(17), 24);
  CHECK_EQ(graph_bucket(200), 224);
  CHECK_EQ(graph_bucket(256), 256);
  CHECK_EQ(graph_bucket(257), 0);
  const GraphPlanLayout L = graph_plan_layout(1024);
  CHECK(L.block_tables % 16 == 0 && L.slots % 8 == 0 && L.bytes == L.block_tables + 4 * 1024);
  std::vector<std::vector<int32_t>> tables;
  std::vector<int32_t> lr;
  const StepPlan p = decode_plan(5, &tables, &lr);
  CHECK(graph_eligible(p, 5, L));
  CHECK(!graph_eligible(p, 4, L));                     // a row that does not sample
  CHECK(!graph_eligible(p, 5, graph_plan_layout(9)));  // tables beyond capacity
  std::vector<char> host(L.bytes, 0x55);
  const size_t bytes = pack_graph_plan(p, 8, L, host.data());
  CHECK_EQ(bytes, L.block_tables + 4 * p.block_tables.size());
  const auto* tok = reinterpret_cast<const int32_t*>(host.data() + L.tokens);
  const auto* slots = reinterpret_cast<const int64_t*>(host.data() + L.slots);
  const auto* lrs = reinterpret_cast<const int32_t*>(host.data() + L.logit_rows);
  const auto* dec = reinterpret_cast<const DecodeRow*>(host.data() + L.decode_rows);
  const auto* bt = reinterpret_cast<const int32_t*>(host.data() + L.block_tables);
  for (int i = 0; i < 5; ++i) {
    CHECK_EQ(tok[i], 100 + i);
    CHECK_EQ(slots[i], p.slots[static_cast<size_t>(i)]);
    CHECK_EQ(dec[i].n_keys, p.decode_rows[static_cast<size_t>(i)].n_keys);
    CHECK_EQ(dec[i].bt_offset, p.decode_rows[static_cast<size_t>(i)].bt_offset);
  }
  for (int i = 5; i < 8; ++i) {
    CHECK_EQ(tok[i], 0);
    CHECK_EQ(slots[i], -1);  // K/V of padding rows are never written
    CHECK_EQ(dec[i].row, i);
    CHECK_EQ(dec[i].n_keys, 1);
    CHECK_EQ(dec[i].num_parts, 1);
    CHECK_EQ(dec[i].bt_offset, 0);  // reads a real block: finite values
  }
  for (int i = 0; i < 8; ++i) CHECK_EQ(lrs[i], i);
  for (size_t i = 0; i < p.block_tables.size(); ++i) CHECK_EQ(bt[i], p.block_tables[i]);
}

TEST(backend_selection_without_a_gpu) {
  if (di_cuda_device_count() > 0) {
    std::printf("  (a CUDA device is present: test_cuda covers selection)\n");
    return;
  }
  const std::string model = models_dir() + "/stories260k";
  di_engine_config c;
  di_engine_config_init(&c);
  CHECK(c.gpu_memory_utilization > 0.89f && c.gpu_memory_utilization < 0.91f);
  c.model = model.c_str();
  c.backend = DI_BACKEND_CUDA;
  char err[1024] = {0};
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  CHECK(e == nullptr);
  CHECK_MSG(std::strstr(err, "CUDA") != nullptr, "error: %s", err);
  di_engine_free(e);
  c.backend = DI_BACKEND_AUTO;
  c.num_threads = 1;
  e = di_engine_create(&c, err, sizeof(err));
  CHECK_MSG(e != nullptr, "auto: %s", err);
  if (e != nullptr) {
    di_engine_info info;
    di_engine_get_info(e, &info);
    CHECK(std::strncmp(info.backend, "cpu-", 4) == 0);
    CHECK_EQ(info.num_kv_blocks, 512);
    CHECK_EQ(info.device_name[0], '\0');
    di_engine_free(e);
  }
  c.gpu_memory_utilization = 1.5f;
  e = di_engine_create(&c, err, sizeof(err));
  CHECK(e == nullptr);
  CHECK(std::strstr(err, "gpu_memory_utilization") != nullptr);
}

TEST_MAIN()
