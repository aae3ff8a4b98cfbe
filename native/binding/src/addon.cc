// The deepinfer_native addon: the engine's C API (include/deepinfer/engine.h) for Node.
//   createEngine(config) → Promise<NativeEngine>   (loads on a worker thread)
//   probeModel(model, blockSize?) → {numLayers, …, kvBlockBytes}   (reads config.json only)
//   cpuKernelPath() → "avx512" | "avx2" | "scalar"
// The TypeScript facade and its types live in libs/engine; this is the only code that
// includes napi.h.
#include <napi.h>

#include <limits>
#include <string>

#include "create-engine.worker.h"
#include "engine-wrap.h"
#include "js-values.h"

namespace deepinfer_node {

namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

Napi::Value CreateEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred_error = [&](const Napi::Error& error) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(error.Value());
    return d.Promise();
  };
  try {
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "createEngine: config must be an object");
    const Napi::Object c = info[0].As<Napi::Object>();
    const Napi::Value model = c.Get("model");
    if (!model.IsString() || model.As<Napi::String>().Utf8Value().empty()) {
      throw Napi::TypeError::New(env, "createEngine: config.model must be a non-empty string (a model directory or a Hub id)");
    }
    const std::string where = "createEngine: config";
    di_engine_config cfg;
    di_engine_config_init(&cfg);
    cfg.num_threads = static_cast<int32_t>(GetInt(c, "threads", where, 0, 4096, cfg.num_threads));
    cfg.block_size = static_cast<int32_t>(GetInt(c, "blockSize", where, 0, 4096, cfg.block_size));
    cfg.num_kv_blocks = static_cast<int32_t>(GetInt(c, "numKvBlocks", where, 0, kInt32Max, cfg.num_kv_blocks));
    cfg.max_num_batched_tokens =
        static_cast<int32_t>(GetInt(c, "maxNumBatchedTokens", where, 0, kInt32Max, cfg.max_num_batched_tokens));
    const Napi::Value backend = c.Get("backend");
    if (!backend.IsUndefined()) {
      const std::string b = backend.IsString() ? backend.As<Napi::String>().Utf8Value() : "";
      if (b == "cpu") cfg.backend = DI_BACKEND_CPU;
      else if (b == "cuda") cfg.backend = DI_BACKEND_CUDA;
      else if (b == "auto") cfg.backend = DI_BACKEND_AUTO;
      else throw Napi::TypeError::New(env, "createEngine: config.backend must be \"cpu\", \"cuda\" or \"auto\"");
    }
    cfg.gpu_memory_utilization =
        static_cast<float>(GetNumber(c, "gpuMemoryUtilization", where, cfg.gpu_memory_utilization));
    bool has_seed = false;
    const uint64_t seed = GetSeed(c, "seed", where, &has_seed);
    if (has_seed) cfg.seed = seed;
    cfg.cuda_graphs = GetBool(c, "cudaGraphs", where, cfg.cuda_graphs == 1) ? 1 : 0;
    // Names are validated by the engine, whose messages name the di_engine_config field.
    EngineConfigStrings strings;
    strings.model = model.As<Napi::String>().Utf8Value();
    strings.dtype = GetString(c, "dtype", where);
    strings.kv_cache_dtype = GetString(c, "kvCacheDtype", where);
    strings.cuda_prefill_attn = GetString(c, "cudaPrefillAttn", where);
    strings.cuda_decode_attn = GetString(c, "cudaDecodeAttn", where);
    strings.cuda_gemm = GetString(c, "cudaGemm", where);
    strings.cublas_path = GetString(c, "cublasPath", where);
    auto* worker = new CreateEngineWorker(env, std::move(strings), cfg);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& error) {
    return deferred_error(error);
  }
}

Napi::Value ProbeModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "probeModel: model must be a string");
  int32_t block_size = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "probeModel: blockSize must be a number");
    block_size = info[1].As<Napi::Number>().Int32Value();
  }
  std::string kv_cache_dtype;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsString()) throw Napi::TypeError::New(env, "probeModel: kvCacheDtype must be a string");
    kv_cache_dtype = info[2].As<Napi::String>().Utf8Value();
  }
  const std::string model = info[0].As<Napi::String>().Utf8Value();
  di_model_probe_info p;
  char err[2048] = {0};
  if (di_model_probe(model.c_str(), DI_BACKEND_CPU, block_size, kv_cache_dtype.empty() ? nullptr : kv_cache_dtype.c_str(),
                     &p, err, sizeof(err)) != 0) {
    throw Napi::Error::New(env, err);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("numLayers", p.num_layers);
  o.Set("numKvHeads", p.num_kv_heads);
  o.Set("headDim", p.head_dim);
  o.Set("vocabSize", p.vocab_size);
  o.Set("maxPositionEmbeddings", static_cast<double>(p.max_position_embeddings));
  o.Set("blockSize", p.block_size);
  o.Set("kvBlockBytes", static_cast<double>(p.kv_block_bytes));
  return o;
}

Napi::Value CpuKernelPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), di_cpu_kernel_path()); }

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeEngine", EngineWrap::Define(env));
  exports.Set("createEngine", Napi::Function::New<CreateEngine>(env, "createEngine"));
  exports.Set("probeModel", Napi::Function::New<ProbeModel>(env, "probeModel"));
  exports.Set("cpuKernelPath", Napi::Function::New<CpuKernelPath>(env, "cpuKernelPath"));
  return exports;
}

}  // namespace deepinfer_node

// NODE_API_MODULE pastes its second argument into an identifier: it must be unqualified.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return deepinfer_node::Init(env, exports); }

NODE_API_MODULE(deepinfer_native, InitAddon)
