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
//   sample(...)          optional  (not yet in the table) device-side sampling; without it the
//                                  engine samples on the host from forward()'s logits.
#pragma once

#include <cstdint>

#include "core/kv_cache.h"
#include "core/model_config.h"
#include "core/step.h"
#include "core/weights.h"

namespace deepinfer {

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
};

}  // namespace deepinfer
