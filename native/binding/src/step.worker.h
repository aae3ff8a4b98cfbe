// Runs one di_engine_step on a libuv worker thread and settles a Promise with its result, so a
// long prefill never blocks the event loop. The worker owns a reference to the engine state
// (the engine outlives the step even if closed meanwhile) and to the JS wrapper.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "engine-state.h"

namespace deepinfer_node {

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, Napi::Object wrapper, std::shared_ptr<EngineState> state);
  Napi::Promise Promise() { return deferred_.Promise(); }
  ~StepWorker() override;

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference wrapper_;
  std::shared_ptr<EngineState> state_;
  // Masks later: the step awaits supplyMasks; an environment cleanup hook releases it should the
  // environment be torn down first (a worker thread terminated mid-step).
  bool masks_later_ = false;
  double masks_wait_ms_ = 0;  // set by Execute (worker thread), read by OnOK
  static void ReleaseOnTeardown(void* state);
  void SettleMasks();
};

}  // namespace deepinfer_node
