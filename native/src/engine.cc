// The C API: validation of every input, exception-to-error-string conversion, and the step
// driver (flatten sequences -> backend forward -> per-sequence sampling).
#include "deepinfer/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_api.h"
#include "core/error.h"
#include "core/kv_cache.h"
#include "core/model_config.h"
#include "core/safetensors.h"
#include "core/sampling.h"
#include "core/weights.h"
#include "engine_internal.h"

using deepinfer::Error;

struct di_engine {
  deepinfer::ModelConfig cfg;
  std::unique_ptr<deepinfer::SafetensorsCatalog> catalog;  // keeps the mappings alive
  deepinfer::ModelWeights weights;
  std::unique_ptr<deepinfer::Backend> backend;
  int num_threads = 1;
  deepinfer::KvCacheGeometry geo;
  std::mt19937_64 rng;  // draws for unseeded random sampling, one per sampled sequence
  std::unique_ptr<deepinfer::Sampler> sampler;
  std::string weight_dtype;                  // the checkpoint's dominant type ("BF16")
  deepinfer::DType dtype = deepinfer::DType::kF32;  // the served type, after any conversion
  // Step staging, grown (never shrunk) so steady-state steps do not allocate.
  std::vector<int32_t> tokens, positions, token_seq, logit_rows, logit_seq;
  std::vector<deepinfer::SeqSpan> spans;
  std::vector<float> logits;  // [R, V]
  std::vector<deepinfer::SampleRow> sample_rows;  // [R] (device-side sampling)
  std::vector<di_seq_output> sample_outs;         // [R]
  // Masks later (di_step_input.await_masks): per input sequence, the mask the callback gave
  // (NULL: refused, or not a mask-later row) and, for rows with one, their sampling parameters
  // with it.
  std::vector<const uint32_t*> late_masks;        // [num_seqs]
  std::vector<di_sampling_params> late_params;    // [num_seqs]
  bool logits_on_host = false;                    // whether e->logits holds this step's logits
  // Device sampling: what a refused row is sampled with (the defaults: greedy, no mask, no
  // penalties, no logprobs); the result is dropped.
  di_sampling_params refused_row_params = [] {
    di_sampling_params p;
    di_sampling_params_init(&p);
    return p;
  }();
};

namespace {

void set_err(char* err, size_t len, const char* msg) {
  if (err == nullptr || len == 0) return;
  std::snprintf(err, len, "%s", msg);
}

// The type most of the checkpoint's bytes are stored in. `with_fp8` false: among the
// unquantized tensors only (FP8 is a storage type of linear weights, never a served type).
deepinfer::DType dominant_dtype(const deepinfer::SafetensorsCatalog& cat, bool with_fp8) {
  size_t bytes[4] = {0, 0, 0, 0};
  for (const auto& kv : cat.tensors()) bytes[static_cast<int>(kv.second.dtype)] += kv.second.nbytes;
  if (!with_fp8) bytes[static_cast<int>(deepinfer::DType::kF8E4M3)] = 0;
  int best = 0;
  for (int i = 1; i < 4; ++i) {
    if (bytes[i] > bytes[best]) best = i;
  }
  return static_cast<deepinfer::DType>(best);
}

std::string or_default(const char* value, const char* dflt) { return value != nullptr && *value ? value : dflt; }

// The backend options of a config, names validated (a backend checks what it can honour).
// `checkpoint` is the model's dominant type, which dtype "auto" serves in.
deepinfer::BackendOptions backend_options(const di_engine_config& c, deepinfer::DType checkpoint) {
  deepinfer::BackendOptions o;
  o.dtype = deepinfer::parse_dtype_setting(c.dtype, "dtype").value_or(checkpoint);
  o.kv_cache_dtype = deepinfer::parse_kv_cache_dtype_setting(c.kv_cache_dtype);
  if (c.cuda_graphs != 0 && c.cuda_graphs != 1) throw Error("config.cuda_graphs must be 0 or 1");
  o.cuda_graphs = c.cuda_graphs == 1;
  o.cuda_prefill_attn = or_default(c.cuda_prefill_attn, "mma");
  o.cuda_decode_attn = or_default(c.cuda_decode_attn, "mma");
  o.cuda_gemm = or_default(c.cuda_gemm, "auto");
  o.cublas_path = or_default(c.cublas_path, "");
  deepinfer::choice_index(o.cuda_prefill_attn, {"fma", "mma"}, "cuda_prefill_attn");
  deepinfer::choice_index(o.cuda_decode_attn, {"warp", "tiled", "mma"}, "cuda_decode_attn");
  deepinfer::choice_index(o.cuda_gemm, {"auto", "cublas", "fallback"}, "cuda_gemm");
  return o;
}

// The CUDA backend's entry points, or an error saying why there are none.
const deepinfer::cuda::Api* cuda_api_or_throw() {
  const deepinfer::cuda::Api* api = deepinfer_cuda_api != nullptr ? deepinfer_cuda_api() : nullptr;
  if (api == nullptr) {
    throw Error("config.backend: the CUDA backend is not built into this binary (build native/ with nvcc on PATH, "
                "DEEPINFER_CUDA=AUTO|ON, and link libdeepinfer_cuda.a)");
  }
  if (api->abi_version != deepinfer::cuda::kApiVersion) throw Error("config.backend: CUDA backend ABI mismatch");
  if (api->device_count() <= 0) {
    throw Error("config.backend: DI_BACKEND_CUDA was requested but no usable CUDA device was found "
                "(cudaGetDeviceCount() = 0: no NVIDIA driver, no GPU, or CUDA_VISIBLE_DEVICES hides them)");
  }
  return api;
}

std::string seq_field(int32_t i, const char* field) {
  return "step: seqs[" + std::to_string(i) + "]." + field;
}

void validate_sampling(const di_engine& e, int32_t i, const di_sampling_params& p) {
  const int V = e.cfg.vocab_size;
  if (!(p.temperature >= 0.f)) throw Error(seq_field(i, "sampling.temperature") + " must be >= 0");
  if (!(p.top_p > 0.f && p.top_p <= 1.f)) throw Error(seq_field(i, "sampling.top_p") + " must be in (0, 1]");
  if (!(p.min_p >= 0.f && p.min_p <= 1.f)) throw Error(seq_field(i, "sampling.min_p") + " must be in [0, 1]");
  if (!(p.repetition_penalty > 0.f)) throw Error(seq_field(i, "sampling.repetition_penalty") + " must be > 0");
  if (p.num_logprobs < -1 || p.num_logprobs > DI_MAX_LOGPROBS) {
    throw Error(seq_field(i, "sampling.num_logprobs") + " must be in [-1, 20]");
  }
  if (p.num_logit_bias < 0 || (p.num_logit_bias > 0 && (p.logit_bias_ids == nullptr || p.logit_bias_values == nullptr))) {
    throw Error(seq_field(i, "sampling.logit_bias") + " is inconsistent (count and pointers)");
  }
  for (int32_t j = 0; j < p.num_logit_bias; ++j) {
    if (p.logit_bias_ids[j] < 0 || p.logit_bias_ids[j] >= V) {
      throw Error(seq_field(i, "sampling.logit_bias_ids") + "[" + std::to_string(j) + "] = " +
                  std::to_string(p.logit_bias_ids[j]) + " is outside the vocabulary");
    }
  }
  if (p.allowed_token_mask != nullptr) {
    // At least one token of the vocabulary must stay (bits past vocab_size are ignored).
    const int words = (V + 31) / 32;
    bool any = false;
    for (int w = 0; w < words && !any; ++w) {
      const uint32_t bits = w == words - 1 && V % 32 != 0 ? p.allowed_token_mask[w] & ((1u << (V % 32)) - 1u)
                                                          : p.allowed_token_mask[w];
      any = bits != 0;
    }
    if (!any) throw Error(seq_field(i, "sampling.allowed_token_mask") + " allows no token");
  }
}

void check_ids(const int32_t* ids, int32_t n, int V, int32_t i, const char* field) {
  if (n < 0 || (n > 0 && ids == nullptr)) throw Error(seq_field(i, field) + " is NULL with a non-zero count");
  for (int32_t j = 0; j < n; ++j) {
    if (ids[j] < 0 || ids[j] >= V) {
      throw Error(seq_field(i, field) + "[" + std::to_string(j) + "] = " + std::to_string(ids[j]) +
                  " is outside the vocabulary [0, " + std::to_string(V) + ")");
    }
  }
}

// Masks later: whether row i was refused (a mask-later row the callback gave no mask), and the
// sampling parameters row i samples with (its own, or a copy with the late mask). Only valid
// once await_late_masks has run for the step.
bool refused(const di_engine& e, const di_step_seq& s, int32_t i) {
  return s.mask_later && e.late_masks[static_cast<size_t>(i)] == nullptr;
}

const di_sampling_params* sampling_of(const di_engine& e, const di_step_seq& s, int32_t i) {
  return s.mask_later ? &e.late_params[static_cast<size_t>(i)] : &s.sampling;
}

// Calls the caller's await_masks (it may block until the masks are computed) and validates each
// mask it supplied like an up-front allowed_token_mask. Returns the milliseconds it blocked.
double await_late_masks(di_engine* e, const di_step_input* in) {
  const auto started = std::chrono::steady_clock::now();
  const int rc = in->await_masks(in->await_masks_ctx, e->late_masks.data(), in->num_seqs);
  const double blocked_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (rc != 0) throw Error("step: await_masks failed (returned " + std::to_string(rc) + ")");
  e->late_params.resize(static_cast<size_t>(in->num_seqs));
  for (int32_t i = 0; i < in->num_seqs; ++i) {
    const di_step_seq& s = in->seqs[i];
    const uint32_t* mask = e->late_masks[static_cast<size_t>(i)];
    if (!s.sample || !s.mask_later || mask == nullptr) continue;
    di_sampling_params& p = e->late_params[static_cast<size_t>(i)];
    p = s.sampling;
    p.allowed_token_mask = mask;
    validate_sampling(*e, i, p);
  }
  return blocked_ms;
}

// The engine RNG's next draw, uniform in [0, 1) (53 bits).
double engine_draw(di_engine* e) { return static_cast<double>(e->rng() >> 11) * (1.0 / 9007199254740992.0); }

// Device sampling: completes the step's sample rows (e->sample_rows, one per logit row) inside
// forward_sample, after the backend has launched the forward pass: waits for the late masks
// (when the step has mask-later rows), then sets each row's parameters and draw, in row order.
class CompleteSampleRows : public deepinfer::BeforeSampling {
 public:
  CompleteSampleRows(di_engine* e, const di_step_input* in, bool has_late) : e_(e), in_(in), has_late_(has_late) {}

  void complete_rows() override {
    // The host's blocked time is not the wait: the device was busy with the forward pass
    // meanwhile (forward_sample measures the wait on the device).
    if (has_late_) await_late_masks(e_, in_);
    for (size_t r = 0; r < e_->sample_rows.size(); ++r) {
      const int32_t i = e_->logit_seq[r];
      const di_step_seq& s = in_->seqs[i];
      deepinfer::SampleRow& sr = e_->sample_rows[r];
      sr = deepinfer::SampleRow();
      if (refused(*e_, s, i)) {
        // The device samples every logit row: this one greedily, without a mask or penalties,
        // and run_step drops the result. No engine draw, as on the host path.
        sr.params = &e_->refused_row_params;
        continue;
      }
      sr.params = sampling_of(*e_, s, i);
      sr.prompt_ids = s.prompt_ids;
      sr.num_prompt_ids = s.num_prompt_ids;
      sr.output_ids = s.output_ids;
      sr.num_output_ids = s.num_output_ids;
      const double engine_u = engine_draw(e_);  // taken by seeded rows too (one per row)
      sr.uniform = s.sampling.has_seed
                       ? deepinfer::seeded_uniform(s.sampling.seed, static_cast<int64_t>(s.start_pos) + s.num_tokens)
                       : engine_u;
    }
  }

 private:
  di_engine* e_;
  const di_step_input* in_;
  bool has_late_;
};

void run_step(di_engine* e, const di_step_input* in, di_step_output* out) {
  if (in == nullptr || out == nullptr) throw Error("step: input and output must not be NULL");
  if (in->num_seqs < 0 || (in->num_seqs > 0 && (in->seqs == nullptr || out->seqs == nullptr))) {
    throw Error("step: seqs is NULL with num_seqs > 0");
  }
  const int V = e->cfg.vocab_size;
  const int bs = e->geo.block_size;
  out->masks_wait_ms = 0;
  bool has_late = false;  // some sampling row takes its mask from await_masks
  int64_t T = 0;
  for (int32_t i = 0; i < in->num_seqs; ++i) {
    const di_step_seq& s = in->seqs[i];
    if (s.num_tokens < 1) throw Error(seq_field(i, "num_tokens") + " must be >= 1");
    check_ids(s.token_ids, s.num_tokens, V, i, "token_ids");
    if (s.start_pos < 0) throw Error(seq_field(i, "start_pos") + " must be >= 0");
    const int64_t end = static_cast<int64_t>(s.start_pos) + s.num_tokens;
    if (end > e->cfg.max_position_embeddings) {
      throw Error(seq_field(i, "start_pos + num_tokens") + " = " + std::to_string(end) +
                  " exceeds max_position_embeddings " + std::to_string(e->cfg.max_position_embeddings));
    }
    const int64_t need_blocks = (end + bs - 1) / bs;
    if (s.num_blocks < need_blocks || s.block_table == nullptr) {
      throw Error(seq_field(i, "block_table") + " has " + std::to_string(s.num_blocks) + " blocks but positions [0, " +
                  std::to_string(end) + ") need " + std::to_string(need_blocks));
    }
    for (int64_t j = 0; j < need_blocks; ++j) {
      if (s.block_table[j] < 0 || s.block_table[j] >= e->geo.num_blocks) {
        throw Error(seq_field(i, "block_table") + "[" + std::to_string(j) + "] = " + std::to_string(s.block_table[j]) +
                    " is not a block id in [0, " + std::to_string(e->geo.num_blocks) + ")");
      }
    }
    if (s.sample) {
      if (s.mask_later != 0 && s.mask_later != 1) throw Error(seq_field(i, "mask_later") + " must be 0 or 1");
      if (s.mask_later) {
        if (s.sampling.allowed_token_mask != nullptr) {
          throw Error(seq_field(i, "mask_later") + " is set, so sampling.allowed_token_mask must be NULL (the mask comes from await_masks)");
        }
        if (in->await_masks == nullptr) throw Error(seq_field(i, "mask_later") + " is set but input.await_masks is NULL");
        has_late = true;
      }
      validate_sampling(*e, i, s.sampling);
      check_ids(s.prompt_ids, s.num_prompt_ids, V, i, "prompt_ids");
      check_ids(s.output_ids, s.num_output_ids, V, i, "output_ids");
    }
    T += s.num_tokens;
  }
  if (T > INT32_MAX / 2) throw Error("step: too many tokens");
  if (in->num_seqs == 0) return;

  // Filled by await_late_masks, which runs after the forward pass was launched (both paths).
  if (has_late) e->late_masks.assign(static_cast<size_t>(in->num_seqs), nullptr);

  // Flatten: rows of sequence i are contiguous, in input order.
  e->tokens.resize(static_cast<size_t>(T));
  e->positions.resize(static_cast<size_t>(T));
  e->token_seq.resize(static_cast<size_t>(T));
  e->spans.resize(static_cast<size_t>(in->num_seqs));
  e->logit_rows.clear();
  e->logit_seq.clear();
  int32_t row = 0;
  for (int32_t i = 0; i < in->num_seqs; ++i) {
    const di_step_seq& s = in->seqs[i];
    e->spans[static_cast<size_t>(i)] = {row, s.num_tokens, s.start_pos, s.block_table, s.num_blocks};
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      e->tokens[static_cast<size_t>(row)] = s.token_ids[j];
      e->positions[static_cast<size_t>(row)] = s.start_pos + j;
      e->token_seq[static_cast<size_t>(row)] = i;
      ++row;
    }
    if (s.sample) {
      e->logit_rows.push_back(row - 1);
      e->logit_seq.push_back(i);
    }
  }
  deepinfer::ForwardBatch b;
  b.num_tokens = static_cast<int32_t>(T);
  b.token_ids = e->tokens.data();
  b.positions = e->positions.data();
  b.token_seq = e->token_seq.data();
  b.num_seqs = in->num_seqs;
  b.seqs = e->spans.data();
  b.num_logit_rows = static_cast<int32_t>(e->logit_rows.size());
  b.logit_rows = e->logit_rows.data();
  const size_t need = static_cast<size_t>(b.num_logit_rows) * V;
  for (int32_t i = 0; i < in->num_seqs; ++i) out->seqs[i].sampled = 0;
  // One engine draw per sampling sequence, seeded or not, in input order, so unseeded results
  // depend only on the engine seed and the order of sampling sequences (both paths). A refused
  // row takes none.
  if (e->backend->samples_on_device()) {
    // Device-side sampling: only the sampled ids and logprobs cross to the host (and the raw
    // logits when the caller asked for them). The rows are completed in the backend's
    // BeforeSampling hook, once the forward pass is launched: the late masks decide each row's
    // parameters and which rows take a draw, and waiting for them there overlaps the forward pass.
    const int32_t R = b.num_logit_rows;
    e->sample_rows.resize(static_cast<size_t>(R));
    e->sample_outs.resize(static_cast<size_t>(R));
    CompleteSampleRows complete(e, in, has_late);
    float* host_logits = nullptr;
    if (out->logits != nullptr) {
      if (e->logits.size() < need) e->logits.resize(need);
      host_logits = e->logits.data();
    }
    const double device_wait_ms =
        e->backend->forward_sample(b, e->sample_rows.data(), e->sample_outs.data(), host_logits, &complete);
    if (has_late) out->masks_wait_ms = device_wait_ms;
    for (int32_t r = 0; r < R; ++r) {
      const int32_t i = e->logit_seq[static_cast<size_t>(r)];
      if (refused(*e, in->seqs[i], i)) {
        out->seqs[i].token_id = -1;  // sampled stays 0
      } else {
        out->seqs[i] = e->sample_outs[static_cast<size_t>(r)];
      }
      if (host_logits != nullptr) {
        std::memcpy(out->logits + static_cast<size_t>(i) * V, host_logits + static_cast<size_t>(r) * V,
                    sizeof(float) * V);
      }
    }
    return;
  }
  if (e->logits.size() < need) e->logits.resize(need);
  e->backend->forward(b, e->logits.data());
  if (out->logits != nullptr) {
    for (int32_t r = 0; r < b.num_logit_rows; ++r) {
      const int32_t i = e->logit_seq[static_cast<size_t>(r)];
      std::memcpy(out->logits + static_cast<size_t>(i) * V, e->logits.data() + static_cast<size_t>(r) * V,
                  sizeof(float) * V);
    }
  }
  // The forward pass is done: the caller's mask work ran alongside it; sampling waits here.
  if (has_late) out->masks_wait_ms = await_late_masks(e, in);

  for (int32_t r = 0; r < b.num_logit_rows; ++r) {
    const int32_t i = e->logit_seq[static_cast<size_t>(r)];
    const di_step_seq& s = in->seqs[i];
    if (refused(*e, s, i)) {
      out->seqs[i].token_id = -1;  // sampled stays 0; no engine draw
      continue;
    }
    deepinfer::SampleRequest req;
    req.logits = e->logits.data() + static_cast<size_t>(r) * V;
    req.params = sampling_of(*e, s, i);
    req.prompt_ids = s.prompt_ids;
    req.num_prompt_ids = s.num_prompt_ids;
    req.output_ids = s.output_ids;
    req.num_output_ids = s.num_output_ids;
    req.position = static_cast<int64_t>(s.start_pos) + s.num_tokens;
    req.unseeded_uniform = engine_draw(e);
    e->sampler->sample(req, &out->seqs[i]);
  }
}

}  // namespace

deepinfer::Backend& deepinfer::engine_backend(di_engine* engine) { return *engine->backend; }

extern "C" {

void di_engine_config_init(di_engine_config* c) {
  if (c == nullptr) return;
  std::memset(c, 0, sizeof(*c));
  c->backend = DI_BACKEND_CPU;
  c->num_threads = 0;
  c->block_size = 16;
  c->num_kv_blocks = 0;  // the backend's choice: 512 on the CPU, memory plan on CUDA
  c->max_num_batched_tokens = 2048;
  c->seed = 0;
  c->gpu_memory_utilization = 0.9f;
  c->cuda_graphs = 1;  // the strings stay NULL: their defaults
}

void di_sampling_params_init(di_sampling_params* p) {
  if (p == nullptr) return;
  std::memset(p, 0, sizeof(*p));
  p->temperature = 0.f;
  p->top_k = 0;
  p->top_p = 1.f;
  p->min_p = 0.f;
  p->repetition_penalty = 1.f;
  p->num_logprobs = -1;
}

di_engine* di_engine_create(const di_engine_config* c, char* err, size_t err_len) {
  try {
    if (c == nullptr || c->model == nullptr) throw Error("config.model must be set");
    if (c->backend != DI_BACKEND_CPU && c->backend != DI_BACKEND_CUDA && c->backend != DI_BACKEND_AUTO) {
      throw Error("config.backend: " + std::to_string(c->backend) + " is not DI_BACKEND_CPU (0), DI_BACKEND_CUDA (1) or DI_BACKEND_AUTO (2)");
    }
    if (c->block_size < 0 || c->num_kv_blocks < 0 || c->max_num_batched_tokens < 0) {
      throw Error("config: block_size, num_kv_blocks and max_num_batched_tokens must be >= 0");
    }
    if (!(c->gpu_memory_utilization >= 0.f && c->gpu_memory_utilization <= 1.f)) {
      throw Error("config.gpu_memory_utilization must be in (0, 1] (0 = 0.9)");
    }
    bool use_cuda = c->backend == DI_BACKEND_CUDA;
    if (c->backend == DI_BACKEND_AUTO) use_cuda = di_cuda_device_count() > 0;
    if (use_cuda) cuda_api_or_throw();
    auto e = std::make_unique<di_engine>();
    const std::string dir = deepinfer::resolve_model_path(c->model);
    e->cfg = deepinfer::load_model_config(dir);
    e->catalog = deepinfer::SafetensorsCatalog::open_dir(dir);
    e->weights = deepinfer::bind_weights(e->cfg, *e->catalog);
    e->weight_dtype = deepinfer::dtype_name(dominant_dtype(*e->catalog, /*with_fp8=*/true));
    // dtype auto serves the unquantized tensors in their checkpoint type; FP8 linear weights
    // stay FP8 whatever dtype says (the backend dequantizes them in its matmuls).
    const deepinfer::BackendOptions options = backend_options(*c, dominant_dtype(*e->catalog, /*with_fp8=*/false));
    e->dtype = options.dtype;
    if (use_cuda) {
      e->backend = cuda_api_or_throw()->create(0, options);
      e->num_threads = 0;
    } else {
      auto cpu = std::make_unique<deepinfer::cpu::CpuBackend>(c->num_threads, options);
      e->num_threads = cpu->num_threads();
      e->backend = std::move(cpu);
    }
    e->backend->load_weights(e->cfg, e->weights);
    const int32_t max_tokens = c->max_num_batched_tokens > 0 ? c->max_num_batched_tokens : 2048;
    const int32_t max_rows = std::min<int32_t>(max_tokens, 256);
    e->geo.num_layers = e->cfg.num_layers;
    e->geo.block_size = c->block_size > 0 ? c->block_size : 16;
    e->geo.num_kv_heads = e->cfg.num_kv_heads;
    e->geo.head_dim = e->cfg.head_dim;
    e->geo.bytes_per_element = e->backend->kv_bytes_per_element();
    e->geo.scale_bytes_per_head = e->backend->kv_scale_bytes_per_head();
    e->geo.num_blocks = c->num_kv_blocks;
    if (e->geo.num_blocks == 0) {
      e->geo.num_blocks = 1;
      const double util = c->gpu_memory_utilization > 0.f ? c->gpu_memory_utilization : 0.9;
      const int32_t planned = e->backend->plan_kv_blocks(e->geo, max_tokens, max_rows, util);
      e->geo.num_blocks = planned > 0 ? planned : 512;
    }
    e->backend->init_kv_cache(e->geo);
    e->backend->reserve(max_tokens, max_rows);
    e->rng.seed(c->seed);
    e->sampler = std::make_unique<deepinfer::Sampler>(e->cfg.vocab_size);
    e->tokens.reserve(static_cast<size_t>(max_tokens));
    e->positions.reserve(static_cast<size_t>(max_tokens));
    e->token_seq.reserve(static_cast<size_t>(max_tokens));
    e->logit_rows.reserve(256);
    e->logit_seq.reserve(256);
    e->spans.reserve(256);
    e->logits.resize(static_cast<size_t>(64) * e->cfg.vocab_size);
    return e.release();
  } catch (const std::bad_alloc&) {
    set_err(err, err_len, "out of memory while creating the engine");
  } catch (const std::exception& ex) {
    set_err(err, err_len, ex.what());
  } catch (...) {
    set_err(err, err_len, "unknown error while creating the engine");
  }
  return nullptr;
}

void di_engine_free(di_engine* e) { delete e; }

int di_engine_get_info(const di_engine* e, di_engine_info* info) {
  if (e == nullptr || info == nullptr) return 1;
  std::memset(info, 0, sizeof(*info));
  const auto& c = e->cfg;
  info->num_layers = c.num_layers;
  info->num_heads = c.num_heads;
  info->num_kv_heads = c.num_kv_heads;
  info->head_dim = c.head_dim;
  info->hidden_size = c.hidden_size;
  info->vocab_size = c.vocab_size;
  info->max_position_embeddings = c.max_position_embeddings;
  info->bos_token_id = c.bos_token_id;
  info->num_eos_ids = static_cast<int32_t>(std::min<size_t>(c.eos_token_ids.size(), DI_MAX_EOS_IDS));
  for (int32_t i = 0; i < info->num_eos_ids; ++i) info->eos_token_ids[i] = c.eos_token_ids[static_cast<size_t>(i)];
  std::snprintf(info->architecture, sizeof(info->architecture), "%s",
                c.architecture.empty() ? c.model_type.c_str() : c.architecture.c_str());
  std::snprintf(info->weight_dtype, sizeof(info->weight_dtype), "%s", e->weight_dtype.c_str());
  std::snprintf(info->backend, sizeof(info->backend), "%s", e->backend->name());
  info->weight_bytes = e->backend->weight_bytes();
  info->weight_bytes_per_step = e->backend->weight_bytes_per_step();
  info->block_size = e->geo.block_size;
  info->num_kv_blocks = e->geo.num_blocks;
  info->kv_block_bytes = e->geo.block_bytes();
  info->num_threads = e->num_threads;
  std::snprintf(info->device_name, sizeof(info->device_name), "%s", e->backend->device_name());
  const deepinfer::DeviceMemoryInfo mem = e->backend->memory_info();
  info->kv_cache_bytes = mem.kv_cache_bytes;
  info->device_free_bytes = mem.free_bytes;
  info->device_total_bytes = mem.total_bytes;
  std::snprintf(info->backend_details, sizeof(info->backend_details), "%s", e->backend->details().c_str());
  info->cuda_graphs_captured = e->backend->cuda_graphs_captured();
  std::snprintf(info->dtype, sizeof(info->dtype), "%s", deepinfer::dtype_setting_name(e->dtype));
  std::snprintf(info->kv_cache_dtype, sizeof(info->kv_cache_dtype), "%s",
                deepinfer::dtype_setting_name(e->backend->kv_cache_dtype()));
  std::string quant;
  if (e->cfg.fp8.enabled) {
    using S = deepinfer::Fp8Quantization::Scales;
    const deepinfer::Fp8Quantization& q = e->cfg.fp8;
    quant = q.scales == S::kBlock ? "fp8_e4m3 (block " + std::to_string(q.block_n) + "x" + std::to_string(q.block_k) + ")"
            : q.scales == S::kChannel ? "fp8_e4m3 (per-channel)"
                                      : "fp8_e4m3 (per-tensor)";
  }
  std::snprintf(info->weight_quantization, sizeof(info->weight_quantization), "%s", quant.c_str());
  return 0;
}

int di_model_probe(const char* model, int32_t backend, int32_t block_size, const char* kv_cache_dtype,
                   di_model_probe_info* out,
                   char* err, size_t err_len) {
  try {
    if (model == nullptr || out == nullptr) throw Error("probe: model and out must not be NULL");
    if (backend != DI_BACKEND_CPU && backend != DI_BACKEND_CUDA && backend != DI_BACKEND_AUTO) {
      throw Error("probe: backend " + std::to_string(backend) + " is not DI_BACKEND_CPU, DI_BACKEND_CUDA or DI_BACKEND_AUTO");
    }
    if (block_size < 0) throw Error("probe: block_size must be >= 0");
    const deepinfer::ModelConfig cfg = deepinfer::load_model_config(deepinfer::resolve_model_path(model));
    // The same geometry di_engine_create builds, so the bytes agree with di_engine_info.
    deepinfer::KvCacheGeometry geo;
    geo.num_layers = cfg.num_layers;
    geo.num_blocks = 1;
    geo.block_size = block_size > 0 ? block_size : 16;
    geo.num_kv_heads = cfg.num_kv_heads;
    geo.head_dim = cfg.head_dim;
    const bool cuda = backend == DI_BACKEND_CUDA || (backend == DI_BACKEND_AUTO && di_cuda_device_count() > 0);
    // The CUDA backend keeps K/V in the checkpoint's 16-bit type, f32 only for f32 models;
    // an explicit kv_cache_dtype sizes them as the backend will (core/kv_fp8.h for fp8).
    geo.bytes_per_element = (cuda && cfg.torch_dtype != "float32") ? 2 : 4;
    if (const auto kv = deepinfer::parse_kv_cache_dtype_setting(kv_cache_dtype)) {
      geo.bytes_per_element = static_cast<int>(deepinfer::dtype_size(*kv));
      geo.scale_bytes_per_head = *kv == deepinfer::DType::kF8E4M3 ? 1 : 0;
    }
    std::memset(out, 0, sizeof(*out));
    out->num_layers = cfg.num_layers;
    out->num_kv_heads = cfg.num_kv_heads;
    out->head_dim = cfg.head_dim;
    out->vocab_size = cfg.vocab_size;
    out->max_position_embeddings = cfg.max_position_embeddings;
    out->block_size = geo.block_size;
    out->kv_block_bytes = geo.block_bytes();
    return 0;
  } catch (const std::bad_alloc&) {
    set_err(err, err_len, "out of memory while probing the model");
  } catch (const std::exception& ex) {
    set_err(err, err_len, ex.what());
  } catch (...) {
    set_err(err, err_len, "unknown error while probing the model");
  }
  return 1;
}

int di_engine_step(di_engine* e, const di_step_input* in, di_step_output* out, char* err, size_t err_len) {
  if (e == nullptr) {
    set_err(err, err_len, "step: engine is NULL");
    return 1;
  }
  try {
    run_step(e, in, out);
    return 0;
  } catch (const std::bad_alloc&) {
    set_err(err, err_len, "out of memory during step");
  } catch (const std::exception& ex) {
    set_err(err, err_len, ex.what());
  } catch (...) {
    set_err(err, err_len, "unknown error during step");
  }
  return 1;
}

const char* di_cpu_kernel_path(void) { return deepinfer::cpu::kernels().name; }

int di_cuda_device_count(void) {
  const deepinfer::cuda::Api* api = deepinfer_cuda_api != nullptr ? deepinfer_cuda_api() : nullptr;
  if (api == nullptr || api->abi_version != deepinfer::cuda::kApiVersion) return 0;
  return api->device_count();
}

}  // extern "C"
