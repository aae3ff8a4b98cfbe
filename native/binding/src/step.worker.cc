#include "step.worker.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace deepinfer_node {

StepWorker::StepWorker(Napi::Env env, Napi::Object wrapper, std::shared_ptr<EngineState> state)
    : Napi::AsyncWorker(env, "deepinfer:step"),
      deferred_(Napi::Promise::Deferred::New(env)),
      wrapper_(Napi::Persistent(wrapper)),
      state_(std::move(state)),
      masks_later_(state_->staging.masks_later) {
  if (masks_later_) napi_add_env_cleanup_hook(env, &StepWorker::ReleaseOnTeardown, state_.get());
}

StepWorker::~StepWorker() { SettleMasks(); }

void StepWorker::ReleaseOnTeardown(void* state) {
  MaskHandoff& h = static_cast<EngineState*>(state)->masks;
  if (h.expected) h.Release({}, {});
}

// JS thread, once the step has settled (or the worker is deleted): nothing awaits masks any more.
void StepWorker::SettleMasks() {
  if (!masks_later_) return;
  masks_later_ = false;
  state_->masks.expected = false;
  napi_remove_env_cleanup_hook(Env(), &StepWorker::ReleaseOnTeardown, state_.get());
}

void StepWorker::Execute() {
  StepStaging& st = state_->staging;
  if (st.want_logits) st.logits.resize(st.seqs.size() * static_cast<size_t>(state_->info.vocab_size));
  di_step_input in{st.seqs.data(), static_cast<int32_t>(st.seqs.size()), masks_later_ ? &AwaitMasks : nullptr,
                   &state_->masks};
  di_step_output out{st.outputs.data(), st.want_logits ? st.logits.data() : nullptr, 0};
  char err[2048] = {0};
  if (di_engine_step(state_->engine, &in, &out, err, sizeof(err)) != 0) SetError(err);
  masks_wait_ms_ = out.masks_wait_ms;
}

void StepWorker::OnOK() {
  Napi::Env env = Env();
  state_->busy = false;
  const bool masks_later = masks_later_;
  SettleMasks();
  const StepStaging& st = state_->staging;
  const size_t n = st.outputs.size();
  // Struct-of-arrays output: one typed array per field, indexed like the input sequences.
  auto token_ids = Napi::Int32Array::New(env, n);
  auto logprobs = Napi::Float32Array::New(env, n);
  auto ranks = Napi::Int32Array::New(env, n);
  Napi::Array top = Napi::Array::New(env, n);
  bool any_top = false;
  for (size_t i = 0; i < n; ++i) {
    const di_seq_output& o = st.outputs[i];
    const bool sampled = st.seqs[i].sample != 0 && o.sampled != 0;
    const bool has_logprob = sampled && st.seqs[i].sampling.num_logprobs >= 0;
    token_ids[i] = sampled ? o.token_id : -1;
    logprobs[i] = has_logprob ? o.logprob : std::numeric_limits<float>::quiet_NaN();
    ranks[i] = has_logprob ? o.rank : 0;
    if (sampled && o.num_top > 0) {
      any_top = true;
      Napi::Object entry = Napi::Object::New(env);
      auto ids = Napi::Int32Array::New(env, static_cast<size_t>(o.num_top));
      auto lps = Napi::Float32Array::New(env, static_cast<size_t>(o.num_top));
      std::memcpy(ids.Data(), o.top_ids, sizeof(int32_t) * o.num_top);
      std::memcpy(lps.Data(), o.top_logprobs, sizeof(float) * o.num_top);
      entry.Set("tokenIds", ids);
      entry.Set("logprobs", lps);
      top.Set(static_cast<uint32_t>(i), entry);
    } else {
      top.Set(static_cast<uint32_t>(i), env.Null());
    }
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("tokenIds", token_ids);
  result.Set("logprobs", logprobs);
  result.Set("ranks", ranks);
  if (any_top) result.Set("topLogprobs", top);
  // How long sampling waited for supplyMasks after the forward pass (the engine's measure:
  // di_step_output.masks_wait_ms).
  if (masks_later) result.Set("masksWaitMs", masks_wait_ms_);
  if (st.want_logits) {
    auto logits = Napi::Float32Array::New(env, st.logits.size());
    std::memcpy(logits.Data(), st.logits.data(), sizeof(float) * st.logits.size());
    result.Set("logits", logits);
  }
  deferred_.Resolve(result);
}

void StepWorker::OnError(const Napi::Error& error) {
  state_->busy = false;
  SettleMasks();
  deferred_.Reject(error.Value());
}

}  // namespace deepinfer_node
