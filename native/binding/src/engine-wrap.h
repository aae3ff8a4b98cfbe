// The JS object of one engine: info(), step(seqs, options?) → Promise, supplyMasks(masks),
// close(), busy/closed/awaitingMasks.
//
// Masks later (guided decoding overlapped with the forward pass): a step whose sampling rows
// have maskLater starts at once; its worker thread runs the forward pass and then blocks until
// JS calls supplyMasks(masks) with one entry per sequence (a Uint32Array mask for a maskLater
// row, 'refuse' / undefined / null = that row samples nothing). supplyMasks applies to the step
// in flight, once; it throws when no step awaits masks (awaitingMasks false). The step is always
// released: an invalid supplyMasks argument refuses every maskLater row (then throws), close()
// and the environment's teardown refuse them too.
// Created only by createEngine() (the constructor refuses to be called from JS).
#pragma once

#include <napi.h>

#include <memory>

#include "engine-state.h"

namespace deepinfer_node {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  // Registers the class; keeps its constructor in the addon's instance data.
  static Napi::Function Define(Napi::Env env);
  // Wraps an engine that was just created; the wrapper owns it from here on.
  static Napi::Object NewInstance(Napi::Env env, di_engine* engine);

  explicit EngineWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value SupplyMasks(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value AwaitingMasks(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);

  // Null after close(): a step in flight keeps its own reference until it settles.
  std::shared_ptr<EngineState> state_;
};

}  // namespace deepinfer_node
