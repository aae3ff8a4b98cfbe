// Internals of a di_engine for the C++ tests and tools that link deepinfer_internal; never part
// of the C API (the binding and the executor do not see it).
#pragma once

#include "core/backend.h"
#include "deepinfer/engine.h"

namespace deepinfer {

// The backend the engine runs its steps on (e.g. to set the CUDA backend's StepObserver).
Backend& engine_backend(di_engine* engine);

}  // namespace deepinfer
