// The backend interface: what the engine needs from a device. The CPU backend and the CUDA
// backend (DEEPINFER_CUDA) implement it.
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
//                                  Two phases in one call: (1) launch the forward pass on the
//                                  device without waiting for it; (2) call the BeforeSampling
//                                  hook on the calling thread, where the engine completes the
//                                  rows; then read the rows, upload the sampling parameters
//                                  (masks included) after the forward pass on the same
//                                  stream, launch sampling and synchronise. The rows are not
//                                  read before the hook returns; a hook that throws leaves the
//                                  device idle (the backend waits for the launched work) and
//                                  nothing sampled. It returns how long the device sat idle
//                                  between the end of the forward pass and the hook's return
//                                  (di_step_output.masks_wait_ms on this path).
//                                  Masks later (di_step_input.await_masks, guided decoding):
//                                  both kinds of backend overlap the caller's mask work with
//                                  the forward pass. A host-sampling backend: the engine calls
//                                  await_masks between forward() (which has finished) and its
//                                  host sampler. A device-sampling backend: the engine calls
//                                  await_masks inside the hook, while the device runs the
//                                  forward pass. Either way a refused row (no mask) has its
//                                  logit row (output->logits gets it), samples nothing and
//                                  takes no engine draw; on the device it is sampled greedily
//                                  without a mask and the result dropped (the sampling kernels
//                                  take every logit row).
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

// forward_sample's second phase (see the table): what the engine does between the launch of
// the forward pass and sampling on the device. It runs on the thread that called forward_sample,
// may block (the caller's guided masks) and may throw (forward_sample then rethrows).
class BeforeSampling {
 public:
  virtual ~BeforeSampling() = default;
  // Completes rows[0, R) of the forward_sample call: parameters and uniform draws.
  virtual void complete_rows() = 0;
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
  // filled with the raw logits when non-null. before_sampling (null: the rows are complete on
  // entry) is called exactly once, after the forward pass was launched and before rows is read.
  // Returns the milliseconds the device sat idle waiting for before_sampling: from the end of the
  // forward pass to the hook's return (0 when the hook returned first, and without a hook).
  virtual double forward_sample(const ForwardBatch& b, const SampleRow* rows, di_seq_output* outs, float* logits,
                                BeforeSampling* before_sampling) {
    throw Error(std::string(name()) + ": device-side sampling is not implemented");
  }
  virtual const char* device_name() const { return ""; }
  // The backend's run-time choices in one line (GEMM library, kernel variants, graphs).
  virtual std::string details() const { return ""; }
  virtual int32_t cuda_graphs_captured() const { return 0; }
  virtual DeviceMemoryInfo memory_info() const { return DeviceMemoryInfo(); }
};

}  // namespace deepinfer
