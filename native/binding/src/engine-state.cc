#include "engine-state.h"

#include <utility>

namespace deepinfer_node {

EngineState::EngineState(di_engine* e) : engine(e) { di_engine_get_info(engine, &info); }

EngineState::~EngineState() { di_engine_free(engine); }

void MaskHandoff::Arm(std::vector<uint8_t> flags) {
  later = std::move(flags);
  expected = true;
  std::lock_guard<std::mutex> lock(mu);
  released = false;
  words.clear();
  present.clear();
}

void MaskHandoff::Release(std::vector<uint32_t> masks, std::vector<uint8_t> has_mask) {
  expected = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    words = std::move(masks);
    present = std::move(has_mask);
    released = true;
  }
  cv.notify_all();
}

int AwaitMasks(void* handoff, const uint32_t** masks, int32_t num_seqs) {
  auto* h = static_cast<MaskHandoff*>(handoff);
  std::unique_lock<std::mutex> lock(h->mu);
  h->cv.wait(lock, [h] { return h->released; });
  const size_t n = static_cast<size_t>(num_seqs);
  if (h->present.size() != n || n == 0) return 0;  // every row refused
  const size_t stride = h->words.size() / n;
  for (size_t i = 0; i < n; ++i) {
    if (h->present[i]) masks[i] = h->words.data() + i * stride;
  }
  return 0;
}

}  // namespace deepinfer_node
