// The C++ tools (no Node, no config loader) read the engine's settings from the same
// environment variables `deepinfer serve` does (DEEPINFER_DTYPE, DEEPINFER_CUDA_GRAPHS, ...), so
// a variant is selected by one name everywhere, e.g. `DEEPINFER_CUDA_DECODE_ATTN=tiled
// deepinfer-cuda-check bench ...`. Values are passed through unchanged; the engine validates
// them and names the field it refuses.
#pragma once

#include <cstdlib>
#include <string>

#include "core/backend_options.h"
#include "deepinfer/engine.h"

namespace deepinfer_tools {

inline const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

// Fills the engine settings of `c` that are set in the environment. The strings are the
// process environment's own, valid for the life of the process.
inline void apply_settings_env(di_engine_config* c) {
  if (const char* v = env_or_null("DEEPINFER_DTYPE")) c->dtype = v;
  if (const char* v = env_or_null("DEEPINFER_KV_CACHE_DTYPE")) c->kv_cache_dtype = v;
  if (const char* v = env_or_null("DEEPINFER_CUDA_GRAPHS")) {
    const std::string s = v;
    c->cuda_graphs = (s == "0" || s == "false" || s == "off" || s == "no") ? 0 : 1;
  }
  if (const char* v = env_or_null("DEEPINFER_CUDA_PREFILL_ATTN")) c->cuda_prefill_attn = v;
  if (const char* v = env_or_null("DEEPINFER_CUDA_DECODE_ATTN")) c->cuda_decode_attn = v;
  if (const char* v = env_or_null("DEEPINFER_CUDA_GEMM")) c->cuda_gemm = v;
  if (const char* v = env_or_null("DEEPINFER_CUBLAS_PATH")) c->cublas_path = v;
}

// The same for a backend built directly (the CUDA benchmark on random weights), for `dtype`.
inline deepinfer::BackendOptions backend_options_from_env(deepinfer::DType dtype) {
  deepinfer::BackendOptions o;
  o.dtype = dtype;
  o.kv_cache_dtype = deepinfer::parse_kv_cache_dtype_setting(env_or_null("DEEPINFER_KV_CACHE_DTYPE"));
  di_engine_config c;
  di_engine_config_init(&c);
  apply_settings_env(&c);
  o.cuda_graphs = c.cuda_graphs == 1;
  if (c.cuda_prefill_attn != nullptr) o.cuda_prefill_attn = c.cuda_prefill_attn;
  if (c.cuda_decode_attn != nullptr) o.cuda_decode_attn = c.cuda_decode_attn;
  if (c.cuda_gemm != nullptr) o.cuda_gemm = c.cuda_gemm;
  if (c.cublas_path != nullptr) o.cublas_path = c.cublas_path;
  return o;
}

}  // namespace deepinfer_tools
