#include "create-engine.worker.h"

#include "engine-wrap.h"

namespace deepinfer_node {

namespace {
const char* or_null(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }
}  // namespace

CreateEngineWorker::CreateEngineWorker(Napi::Env env, EngineConfigStrings strings, const di_engine_config& config)
    : Napi::AsyncWorker(env, "deepinfer:createEngine"),
      deferred_(Napi::Promise::Deferred::New(env)),
      strings_(std::move(strings)),
      config_(config) {
  config_.model = strings_.model.c_str();
  config_.dtype = or_null(strings_.dtype);
  config_.kv_cache_dtype = or_null(strings_.kv_cache_dtype);
  config_.cuda_prefill_attn = or_null(strings_.cuda_prefill_attn);
  config_.cuda_decode_attn = or_null(strings_.cuda_decode_attn);
  config_.cuda_gemm = or_null(strings_.cuda_gemm);
  config_.cublas_path = or_null(strings_.cublas_path);
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
