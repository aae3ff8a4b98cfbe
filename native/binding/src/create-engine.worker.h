// Loads a model (di_engine_create) on a libuv worker thread: loading and repacking the weights
// of a large model takes seconds, which must not stall the event loop.
#pragma once

#include <napi.h>

#include <string>

#include "deepinfer/engine.h"

namespace deepinfer_node {

class CreateEngineWorker : public Napi::AsyncWorker {
 public:
  // `config.model` must point into `model_`'s storage: the worker owns the string.
  CreateEngineWorker(Napi::Env env, std::string model, const di_engine_config& config);
  ~CreateEngineWorker() override;
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::Promise::Deferred deferred_;
  std::string model_;
  di_engine_config config_;
  di_engine* engine_ = nullptr;  // handed to the JS wrapper in OnOK; freed here otherwise
};

}  // namespace deepinfer_node
