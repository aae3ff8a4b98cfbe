// The native side of one engine handle, shared (std::shared_ptr) by the JS wrapper and the step
// worker in flight, so that the di_engine is freed only when both are done with it: close() or
// garbage collection during a step can never free the engine under the worker thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
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
  bool masks_later = false;      // some sampling row has maskLater: the step awaits supplyMasks
};

// Masks later: the hand-off of a step's guided masks from the JS thread (supplyMasks) to the
// step's worker thread, which blocks in the engine's await_masks callback (AwaitMasks) once
// the forward pass has started (CPU: after it; CUDA: while the GPU runs it) until they are there. Invariant: a step started with maskLater rows is always
// released, by supplyMasks (masks or refusals), close(), or the environment's teardown, each of
// which refuses every row it has no mask for.
struct MaskHandoff {
  // JS thread only: the step in flight has maskLater rows and no supplyMasks yet (set when it is
  // queued, cleared by supplyMasks, close() and the step's completion).
  bool expected = false;
  std::vector<uint8_t> later;    // JS thread only: [num_seqs] 1 = row i has maskLater
  std::mutex mu;
  std::condition_variable cv;
  // Under mu: written by the JS thread before `released`, read by the worker after it.
  bool released = false;
  std::vector<uint32_t> words;   // [num_seqs][ceil(vocab / 32)]
  std::vector<uint8_t> present;  // [num_seqs] 1 = row i has a mask in `words`; 0 = refused

  // JS thread: arms the hand-off for a step with these maskLater flags.
  void Arm(std::vector<uint8_t> flags);
  // JS thread: releases the waiting (or not yet waiting) step with these masks; every row
  // without one is refused. Empty vectors refuse every row.
  void Release(std::vector<uint32_t> masks, std::vector<uint8_t> has_mask);
};

// The engine's await_masks callback (di_await_masks_fn) for a MaskHandoff: blocks until the JS
// thread releases it, then points each supplied row at its mask.
int AwaitMasks(void* handoff, const uint32_t** masks, int32_t num_seqs);

struct EngineState {
  di_engine* engine = nullptr;
  di_engine_info info{};
  // Touched on the JS thread only (set before queueing a step, cleared in its completion).
  bool busy = false;
  bool closed = false;
  // Reused by consecutive steps (one at a time per engine), so steady-state steps do not allocate.
  StepStaging staging;
  MaskHandoff masks;

  explicit EngineState(di_engine* e);
  ~EngineState();
  EngineState(const EngineState&) = delete;
  EngineState& operator=(const EngineState&) = delete;
};

}  // namespace deepinfer_node
