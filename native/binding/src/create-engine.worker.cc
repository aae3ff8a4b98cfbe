#include "create-engine.worker.h"

#include "engine-wrap.h"

namespace deepinfer_node {

CreateEngineWorker::CreateEngineWorker(Napi::Env env, std::string model, const di_engine_config& config)
    : Napi::AsyncWorker(env, "deepinfer:createEngine"),
      deferred_(Napi::Promise::Deferred::New(env)),
      model_(std::move(model)),
      config_(config) {
  config_.model = model_.c_str();
}

CreateEngineWorker::~CreateEngineWorker() { di_engine_free(engine_); }

void CreateEngineWorker::Execute() {
  char err[2048] = {0};
  engine_ = di_engine_create(&config_, err, sizeof(err));
  if (engine_ == nullptr) SetError(err[0] != '\0' ? err : "di_engine_create failed");
}

void CreateEngineWorker::OnOK() {
  di_engine* engine = engine_;
  engine_ = nullptr;  // ownership moves to the wrapper (which frees it on close / GC)
  deferred_.Resolve(EngineWrap::NewInstance(Env(), engine));
}

void CreateEngineWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

}  // namespace deepinfer_node
