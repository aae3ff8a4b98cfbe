// Per-phase GPU time of forward steps (`deepinfer-cuda-check bench`), the CUDA backend's
// StepObserver (set with CudaBackend::set_step_observer; production never sets one): CUDA
// events recorded between the launch groups of a step, read after the step's stream
// synchronisation, summed per phase name.
// Events cost ~1 us of GPU time each, so profiled steps run slightly slower than plain ones.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

#include "backends/cuda/step_observer.h"

namespace deepinfer {
namespace cuda {

class PhaseTimer : public StepObserver {
 public:
  ~PhaseTimer() override;
  // Starts a step's timeline on stream s.
  void begin(cudaStream_t s) override;
  // Ends `phase` (a string literal) here: the time since the previous mark or begin is its.
  void mark(const char* phase, cudaStream_t s) override;
  // After the stream synchronised: adds this step's intervals to the totals.
  void end() override;
  // Totals in ms since the last reset, and the number of steps collected.
  const std::map<std::string, double>& totals_ms() const { return totals_; }
  int steps() const { return steps_; }
  void reset();

 private:
  std::vector<cudaEvent_t> pool_;
  std::vector<const char*> labels_;  // labels_[i] ends at pool_[i + 1]
  size_t used_ = 0;
  std::map<std::string, double> totals_;
  int steps_ = 0;
};

}  // namespace cuda
}  // namespace deepinfer
