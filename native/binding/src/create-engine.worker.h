// Loads a model (di_engine_create) on a libuv worker thread: loading and repacking the weights
// of a large model takes seconds, which must not stall the event loop.
#pragma once

#include <napi.h>

#include <string>

#include "deepinfer/engine.h"

namespace deepinfer_node {

// The string fields of di_engine_config, owned by the worker while the engine loads. An empty
// string stands for NULL (the engine's default).
struct EngineConfigStrings {
  std::string model, dtype, kv_cache_dtype, cuda_prefill_attn, cuda_decode_attn, cuda_gemm, cublas_path;
};

class CreateEngineWorker : public Napi::AsyncWorker {
 public:
  // The string fields of `config` are set from `strings` (the worker owns them).
  CreateEngineWorker(Napi::Env env, EngineConfigStrings strings, const di_engine_config& config);
  ~CreateEngineWorker() override;
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::Promise::Deferred deferred_;
  EngineConfigStrings strings_;
  di_engine_config config_;
  di_engine* engine_ = nullptr;  // handed to the JS wrapper in OnOK; freed here otherwise
};

}  // namespace deepinfer_node
