// The JS object of one engine: info(), step(seqs, options?) → Promise, close(), busy/closed.
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
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);

  // Null after close(): a step in flight keeps its own reference until it settles.
  std::shared_ptr<EngineState> state_;
};

}  // namespace deepinfer_node
