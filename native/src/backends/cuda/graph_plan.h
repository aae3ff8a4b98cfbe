// Step metadata for CUDA-graph replay of decode steps (plain C++, unit-tested without a GPU).
//
// A decode step launches about ten kernels per layer. Replaying them as one captured graph
// removes the launch gaps, but a graph bakes in every kernel argument: row counts, grid sizes
// and buffer addresses. So graph steps (1) are padded up to a batch-size bucket, and (2) read
// their per-step metadata from one fixed layout whose addresses never change; only the bytes
// in it change from step to step (one host-to-device copy before the replay).
//
// Padding rows are inert: token 0 at position 0, K/V slot -1 (kv_write skips it), and a decode
// row that attends one key through block-table entry 0 (a real block, so the values read are
// finite). Their outputs are computed and ignored: every kernel of the step is row-wise, so a
// padding row never changes a real row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/cuda/step_plan.h"

namespace deepinfer {
namespace cuda {

constexpr int kMaxGraphBatch = 256;

// The bucket a decode step of n rows is padded to (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128,
// 160, 192, 224, 256), or 0 when n is 0 or above kMaxGraphBatch.
int graph_bucket(int n);

// Byte offsets of the fixed layout: [tokens][positions][logit rows] (int32, kMaxGraphBatch
// each), [slots] (int64), [decode rows], then the block tables (bt_capacity int32 entries).
struct GraphPlanLayout {
  size_t tokens = 0, positions = 0, logit_rows = 0, slots = 0, decode_rows = 0, block_tables = 0;
  size_t bt_capacity = 0;  // entries
  size_t bytes = 0;        // the whole layout
};
GraphPlanLayout graph_plan_layout(size_t bt_capacity);

// Whether `plan` (of a step with num_logit_rows logit rows) can run as a graph of bucket
// graph_bucket(rows): decode rows only, each row sampled, in row order, tables within capacity.
bool graph_eligible(const StepPlan& plan, int num_logit_rows, const GraphPlanLayout& layout);

// Writes the metadata of `plan` padded to `bucket` rows into `host` (layout.bytes long).
// Returns the number of leading bytes to copy to the device (the header and the used tables).
size_t pack_graph_plan(const StepPlan& plan, int bucket, const GraphPlanLayout& layout, char* host);

}  // namespace cuda
}  // namespace deepinfer
