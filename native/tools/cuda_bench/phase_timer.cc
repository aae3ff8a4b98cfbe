#include "cuda_bench/phase_timer.h"

#include "backends/cuda/cuda_common.cuh"

namespace deepinfer {
namespace cuda {

PhaseTimer::~PhaseTimer() {
  for (cudaEvent_t e : pool_) cudaEventDestroy(e);
}

void PhaseTimer::begin(cudaStream_t s) {
  used_ = 0;
  labels_.clear();
  mark(nullptr, s);
}

void PhaseTimer::mark(const char* phase, cudaStream_t s) {
  if (used_ == pool_.size()) {
    cudaEvent_t e;
    DI_CUDA_CHECK(cudaEventCreate(&e));
    pool_.push_back(e);
  }
  DI_CUDA_CHECK(cudaEventRecord(pool_[used_++], s));
  if (phase != nullptr) labels_.push_back(phase);
}

void PhaseTimer::end() {
  if (used_ < 2) return;
  for (size_t i = 0; i + 1 < used_ && i < labels_.size(); ++i) {
    float ms = 0.f;
    DI_CUDA_CHECK(cudaEventElapsedTime(&ms, pool_[i], pool_[i + 1]));
    totals_[labels_[i]] += ms;
  }
  used_ = 0;
  labels_.clear();
  ++steps_;
}

void PhaseTimer::reset() {
  totals_.clear();
  steps_ = 0;
}

}  // namespace cuda
}  // namespace deepinfer
