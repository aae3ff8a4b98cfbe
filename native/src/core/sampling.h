// Per-sequence sampling from one row of logits (host memory), vLLM v1 semantics:
//   1. logprobs (when asked) from the raw model log-softmax, before any processing;
//   2. guided decoding: tokens outside params->allowed_token_mask (when set) get -inf;
//      then logit_bias added;
//   3. repetition penalty over prompt+output tokens (logit > 0 ? logit / r : logit * r),
//      then frequency (x count in output) and presence (x [count > 0]) penalties;
//   4. temperature == 0 (below 1e-5): argmax (lowest id on ties) - no randomness used;
//   5. else divide by temperature, softmax, min_p filter (p >= min_p * p_max), top_k, top_p
//      (smallest prefix of the sorted distribution whose mass reaches top_p), renormalise and
//      draw by inverse CDF over candidates sorted by probability (ties by id).
// The uniform draw of a seeded request is a pure function of (seed, position of the token
// being sampled): the same request gives the same tokens whatever else is in the batch, and
// after preemption-and-recompute.
#pragma once

#include <cstdint>
#include <vector>

#include "deepinfer/engine.h"

namespace deepinfer {

// Uniform in [0, 1) from (seed, position), stateless (splitmix64 mixing).
double seeded_uniform(uint64_t seed, int64_t position);

struct SampleRequest {
  const float* logits = nullptr;  // [vocab] raw logits
  const di_sampling_params* params = nullptr;
  const int32_t* prompt_ids = nullptr;  // [num_prompt_ids]
  int32_t num_prompt_ids = 0;
  const int32_t* output_ids = nullptr;  // [num_output_ids]
  int32_t num_output_ids = 0;
  int64_t position = 0;                 // position the sampled token will occupy
  double unseeded_uniform = 0.0;        // engine RNG draw, used when params->has_seed == 0
};

class Sampler {
 public:
  explicit Sampler(int vocab_size);
  // Fills out (sampled, token_id, logprob fields). Inputs are validated by the caller.
  void sample(const SampleRequest& req, di_seq_output* out);

 private:
  int vocab_;
  std::vector<float> work_;       // [vocab] processed logits, then probabilities
  std::vector<int32_t> order_;    // [vocab] candidate ids
  std::vector<int32_t> counts_;   // [vocab] output-token counts; zero between calls
  std::vector<uint8_t> in_ctx_;   // [vocab] 1 if in prompt or output; zero between calls
};

}  // namespace deepinfer
