#include "engine-wrap.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "step-input.parser.h"
#include "step.worker.h"

namespace deepinfer_node {

namespace {

Napi::Promise Rejected(Napi::Env env, const Napi::Error& error) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(error.Value());
  return deferred.Promise();
}

}  // namespace

Napi::Function EngineWrap::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeEngine",
                                    {
                                        InstanceMethod<&EngineWrap::Info>("info"),
                                        InstanceMethod<&EngineWrap::Step>("step"),
                                        InstanceMethod<&EngineWrap::SupplyMasks>("supplyMasks"),
                                        InstanceMethod<&EngineWrap::Close>("close"),
                                        InstanceAccessor<&EngineWrap::AwaitingMasks>("awaitingMasks"),
                                        InstanceAccessor<&EngineWrap::Busy>("busy"),
                                        InstanceAccessor<&EngineWrap::Closed>("closed"),
                                    });
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(ctor)));
  return ctor;
}

Napi::Object EngineWrap::NewInstance(Napi::Env env, di_engine* engine) {
  // The engine travels through an External so that JS cannot construct a wrapper itself.
  auto* ctor = env.GetInstanceData<Napi::FunctionReference>();
  return ctor->New({Napi::External<di_engine>::New(env, engine)});
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeEngine cannot be constructed directly; use createEngine(config)");
  }
  state_ = std::make_shared<EngineState>(info[0].As<Napi::External<di_engine>>().Data());
}

Napi::Value EngineWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!state_) throw Napi::Error::New(env, "info: the engine is closed");
  // The few fields that change as the engine runs (CUDA graphs captured) are read again, but
  // only between steps: during one the worker thread owns the backend, and the last values stand.
  if (!state_->busy && !state_->closed) di_engine_get_info(state_->engine, &state_->info);
  const di_engine_info& i = state_->info;
  Napi::Object o = Napi::Object::New(env);
  o.Set("numLayers", i.num_layers);
  o.Set("numHeads", i.num_heads);
  o.Set("numKvHeads", i.num_kv_heads);
  o.Set("headDim", i.head_dim);
  o.Set("hiddenSize", i.hidden_size);
  o.Set("vocabSize", i.vocab_size);
  o.Set("maxPositionEmbeddings", static_cast<double>(i.max_position_embeddings));
  o.Set("bosTokenId", i.bos_token_id);
  Napi::Array eos = Napi::Array::New(env, static_cast<size_t>(i.num_eos_ids));
  for (int32_t k = 0; k < i.num_eos_ids; ++k) eos.Set(static_cast<uint32_t>(k), i.eos_token_ids[k]);
  o.Set("eosTokenIds", eos);
  o.Set("architecture", std::string(i.architecture));
  o.Set("weightDtype", std::string(i.weight_dtype));
  o.Set("dtype", std::string(i.dtype));
  o.Set("kvCacheDtype", std::string(i.kv_cache_dtype));
  o.Set("weightQuantization", std::string(i.weight_quantization));
  o.Set("backend", std::string(i.backend));
  o.Set("weightBytes", static_cast<double>(i.weight_bytes));
  o.Set("weightBytesPerStep", static_cast<double>(i.weight_bytes_per_step));
  o.Set("blockSize", i.block_size);
  o.Set("numKvBlocks", i.num_kv_blocks);
  o.Set("kvBlockBytes", static_cast<double>(i.kv_block_bytes));
  o.Set("numThreads", i.num_threads);
  // CUDA backend only ("" / 0 on the CPU backend); read at create time.
  o.Set("deviceName", std::string(i.device_name));
  o.Set("deviceFreeBytes", static_cast<double>(i.device_free_bytes));
  o.Set("deviceTotalBytes", static_cast<double>(i.device_total_bytes));
  o.Set("backendDetails", std::string(i.backend_details));
  o.Set("cudaGraphsCaptured", i.cuda_graphs_captured);
  return o;
}

Napi::Value EngineWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Every failure is a rejected Promise, never a synchronous throw: callers only await.
  if (!state_) return Rejected(env, Napi::Error::New(env, "step: the engine is closed"));
  if (state_->busy) {
    return Rejected(env, Napi::Error::New(env,
                                          "step: another step is already running on this engine; an engine runs "
                                          "one step at a time (await the previous step)"));
  }
  try {
    ParseStepInput(info[0], info[1], state_->info.vocab_size, &state_->staging);
  } catch (const Napi::Error& error) {
    return Rejected(env, error);
  }
  state_->busy = true;
  if (state_->staging.masks_later) {
    std::vector<uint8_t> later(state_->staging.seqs.size(), 0);
    for (size_t i = 0; i < later.size(); ++i) {
      const di_step_seq& s = state_->staging.seqs[i];
      later[i] = s.sample && s.mask_later ? 1 : 0;
    }
    state_->masks.Arm(std::move(later));
  }
  auto* worker = new StepWorker(env, info.This().As<Napi::Object>(), state_);
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after settling
  return promise;
}

Napi::Value EngineWrap::SupplyMasks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!state_ || !state_->masks.expected) {
    throw Napi::Error::New(env, "supplyMasks: no step is waiting for masks (supplyMasks applies once to the step in "
                                "flight, when it was started with maskLater rows)");
  }
  MaskHandoff& h = state_->masks;
  const size_t n = h.later.size();
  const size_t words = (static_cast<size_t>(state_->info.vocab_size) + 31) / 32;
  std::vector<uint32_t> masks(n * words);
  std::vector<uint8_t> present(n, 0);
  std::string error;
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() != n) {
    error = "supplyMasks: masks must be an array with one entry per sequence of the step (" + std::to_string(n) + ")";
  } else {
    const Napi::Array entries = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < n && error.empty(); ++i) {
      const Napi::Value v = entries.Get(i);
      const std::string where = "supplyMasks: masks[" + std::to_string(i) + "]";
      if (v.IsUndefined() || v.IsNull() || (v.IsString() && v.As<Napi::String>().Utf8Value() == "refuse")) continue;
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
        error = where + " must be a Uint32Array, 'refuse', undefined or null";
      } else if (!h.later[i]) {
        error = where + ": sequence " + std::to_string(i) + " was not started with maskLater (and sample)";
      } else if (v.As<Napi::Uint32Array>().ElementLength() != words) {
        error = where + " must have ceil(vocab_size / 32) = " + std::to_string(words) + " words, not " +
                std::to_string(v.As<Napi::Uint32Array>().ElementLength());
      } else {
        // Copied now: the caller may reuse its buffer (a worker's shared mask buffer) at once.
        const Napi::Uint32Array a = v.As<Napi::Uint32Array>();
        std::copy(a.Data(), a.Data() + words, masks.begin() + static_cast<std::ptrdiff_t>(i * words));
        present[i] = 1;
      }
    }
  }
  if (!error.empty()) {
    h.Release({}, {});  // never leave the step waiting: every maskLater row is refused
    throw Napi::TypeError::New(env, error + " (the step's maskLater rows were refused)");
  }
  h.Release(std::move(masks), std::move(present));
  return env.Undefined();
}

Napi::Value EngineWrap::AwaitingMasks(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_ && state_->masks.expected);
}

Napi::Value EngineWrap::Close(const Napi::CallbackInfo& info) {
  // A step waiting for its masks is released (its maskLater rows sample nothing); dropping our
  // reference frees the engine now, or when the step in flight settles.
  if (state_ && state_->masks.expected) state_->masks.Release({}, {});
  state_.reset();
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Busy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_ && state_->busy);
}

Napi::Value EngineWrap::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !state_);
}

}  // namespace deepinfer_node
