// The backend interface: what the engine needs from a device. The CPU backend implements it
// today; a CUDA backend (DEEPINFER_CUDA) will implement the same table.
//
// Table of operations (in call order):
//
//   slot                 required  what it must do
//   -------------------  --------  ----------------------------------------------------------
//   name()               yes       short name for logs and di_engine_info.backend ("cpu-avx2")
//   load_weights(c, w)   yes       take the bound tensors (views into the mmapped files) and
//                                  make whatever copies/conversions/uploads it needs; after it
//                                  returns the engine may unmap nothing (views stay valid), but
//                                  the backend must not rely on any view beyond its own call
//                                  unless it says so in weight_bytes() accounting.
//   weight_bytes()       yes       bytes of weight memory the backend holds (for the info query
//                                  and the roofline): device copies + mmapped bytes it reads.
//   weight_bytes_per_step() yes    bytes of weights every forward pass streams (roofline).
//   init_kv_cache(g)     yes       allocate K and V for g.num_blocks blocks, once; contents are
//                                  undefined until written (a slot is only read after a step
//                                  wrote it, which the scheduler guarantees).
//   reserve(T, R)        yes       size scratch for T tokens and R logit rows; called at create
//                                  with max_num_batched_tokens and again only when a step is
//                                  larger. forward() must not allocate.
//   forward(b, logits)   yes       run the model on batch b: write K/V of every token of b into
//                                  its slot, attend causally through each sequence's block table,
//                                  and write the logits of rows b.logit_rows to logits
//                                  ([R, V] float32, host memory). Must be batch-invariant: the
//                                  logits of a row may not depend on the other rows of the batch.
//   copy_blocks(...)     optional  (not yet in the table) copy-on-write of partially filled
//                                  shared blocks; the scheduler avoids needing it today by only
//                                  sharing full blocks.
//   kv_cache_dtype()     optional  K/V element type (default f32), fixed at construction
//                                  from BackendOptions (the CUDA backend stores K/V in the
//                                  served dtype; kF8E4M3 = fp8 with per-(slot, head) scales,
//                                  core/kv_fp8.h). The engine sizes KvCacheGeometry with it.
//   plan_kv_blocks(...)  optional  device memory plan (CUDA): after load_weights, size scratch
//                                  for the largest step, run one profiling forward pass, and
//                                  return how many KV blocks fit in gpu_memory_utilization of
//                                  the device; 0 (the default) = no plan, the engine uses 512.
//   samples_on_device()  optional  true when forward_sample() is implemented (CUDA): the
//   forward_sample(...)            engine then passes each sampling row's parameters and its
//                                  uniform draw (seeded_uniform(seed, position) or the engine
//                                  RNG, the same rule as the host sampler) and receives only
//                                  the sampled ids and logprobs; raw logits cross to the host
//                                  only when the caller asked for them (debug/test).
//                                  Without it the engine samples on the host from forward().
//                                  Masks later (di_step_input.await_masks, guided decoding):
//                                  a host-sampling backend gets the overlap for free (the engine
//                                  calls await_masks between forward() and its host sampler,
//                                  so the caller's mask work runs alongside the forward pass);
//                                  with forward_sample() the engine calls await_masks BEFORE it
//                                  (same results, no overlap: refused rows get no logit row).
//                                  Next step for CUDA: split forward_sample into launching the
//                                  forward pass, waiting for the masks on the host while it
//                                  runs, then launching sampling (masks uploaded then).
//   device_name(), memory_info()   optional  for di_engine_info (device name; KV/free/total bytes).
#pragma once

#include <cstdint>
#include <string>

#include "core/backend_options.h"
#include "core/error.h"
#include "core/kv_cache.h"
#include "core/model_config.h"
#include "core/step.h"
#include "core/weights.h"
#include "deepinfer/engine.h"

namespace deepinfer {

// One row of device-side sampling: the sequence's parameters (validated by the engine) and the
// uniform draw of this step, computed by the engine exactly as for the host sampler.
struct SampleRow {
  const di_sampling_params* params = nullptr;
  const int32_t* prompt_ids = nullptr;
  int32_t num_prompt_ids = 0;
  const int32_t* output_ids = nullptr;
  int32_t num_output_ids = 0;
  double uniform = 0.0;
};

struct DeviceMemoryInfo {
  int64_t kv_cache_bytes = 0;  // bytes of the K/V cache the backend holds
  int64_t free_bytes = 0;      // device free memory after the plan (cudaMemGetInfo)
  int64_t total_bytes = 0;     // device total memory
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual void load_weights(const ModelConfig& cfg, const ModelWeights& w) = 0;
  virtual int64_t weight_bytes() const = 0;
  virtual int64_t weight_bytes_per_step() const = 0;
  virtual void init_kv_cache(const KvCacheGeometry& g) = 0;
  virtual void reserve(int32_t max_tokens, int32_t max_logit_rows) = 0;
  virtual void forward(const ForwardBatch& b, float* logits) = 0;

  // Optional slots (see the table above); the defaults describe a host backend.
  virtual DType kv_cache_dtype() const { return DType::kF32; }
  int kv_bytes_per_element() const { return static_cast<int>(dtype_size(kv_cache_dtype())); }
  // fp8 K/V carry one exponent byte per (slot, kv head) (core/kv_fp8.h).
  int kv_scale_bytes_per_head() const { return kv_cache_dtype() == DType::kF8E4M3 ? 1 : 0; }
  virtual int32_t plan_kv_blocks(const KvCacheGeometry& one_block, int32_t max_tokens, int32_t max_logit_rows,
                                 double gpu_memory_utilization) {
    return 0;
  }
  virtual bool samples_on_device() const { return false; }
  // rows[r] belongs to logit row r of b; outs[r] receives its result; logits ([R, V], host) is
  // filled with the raw logits when non-null.
  virtual void forward_sample(const ForwardBatch& b, const SampleRow* rows, di_seq_output* outs, float* logits) {
    throw Error(std::string(name()) + ": device-side sampling is not implemented");
  }
  virtual const char* device_name() const { return ""; }
  // The backend's run-time choices in one line (GEMM library, kernel variants, graphs).
  virtual std::string details() const { return ""; }
  virtual int32_t cuda_graphs_captured() const { return 0; }
  virtual DeviceMemoryInfo memory_info() const { return DeviceMemoryInfo(); }
};

}  // namespace deepinfer
