// The native side of one engine handle, shared (std::shared_ptr) by the JS wrapper and the step
// worker in flight, so that the di_engine is freed only when both are done with it: close() or
// garbage collection during a step can never free the engine under the worker thread.
#pragma once

#include <cstdint>
#include <vector>

#include "deepinfer/engine.h"

namespace deepinfer_node {

// A step's input copied out of JS typed arrays: the engine reads these on the worker thread,
// so nothing points into JS memory (which JS could detach or reuse while the step runs).
struct StepStaging {
  std::vector<int32_t> ints;     // token ids, block tables, prompt/output ids, logit-bias ids
  std::vector<float> floats;     // logit-bias values
  std::vector<di_step_seq> seqs;
  std::vector<di_seq_output> outputs;
  std::vector<float> logits;     // [num_seqs][vocab] when the caller asked for logits
  bool want_logits = false;
};

struct EngineState {
  di_engine* engine = nullptr;
  di_engine_info info{};
  // Touched on the JS thread only (set before queueing a step, cleared in its completion).
  bool busy = false;
  bool closed = false;
  // Reused by consecutive steps (one at a time per engine), so steady-state steps do not allocate.
  StepStaging staging;

  explicit EngineState(di_engine* e);
  ~EngineState();
  EngineState(const EngineState&) = delete;
  EngineState& operator=(const EngineState&) = delete;
};

}  // namespace deepinfer_node
