// What the engine asks of a backend beyond the model: the dtypes it serves in and the CUDA
// backend's kernel choices. Filled by the engine from di_engine_config (engine.h documents each
// field) after validating the names; a backend refuses, in its constructor, before anything is
// allocated, a choice it cannot honour, with a message naming the di_engine_config field.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/safetensors.h"

namespace deepinfer {

struct BackendOptions {
  // Type the weights are served in, already resolved by the engine ("auto" = the checkpoint's
  // dominant type). The CUDA backend stores matrices in it; the CPU backend rounds to it and
  // computes in f32.
  DType dtype = DType::kF32;
  // The K/V element type asked for; nullopt = the backend's own choice for `dtype`.
  std::optional<DType> kv_cache_dtype;

  // CUDA backend only.
  bool cuda_graphs = true;
  std::string cuda_prefill_attn = "mma";  // fma | mma
  std::string cuda_decode_attn = "mma";   // warp | tiled | mma
  std::string cuda_gemm = "auto";         // auto | cublas | fallback
  std::string cublas_path;                // "" = search the usual names and directories
};

// The dtype names of the settings and of di_engine_info ("float32", "float16", "bfloat16").
inline const char* dtype_setting_name(DType t) {
  switch (t) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kF8E4M3: return "float8_e4m3";  // stored weights and the fp8 KV cache; never served
  }
  return "?";
}

// nullopt for NULL, "" and "auto"; otherwise the named type, or an Error naming `field`.
inline std::optional<DType> parse_dtype_setting(const char* value, const char* field) {
  if (value == nullptr || *value == '\0' || std::string(value) == "auto") return std::nullopt;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    if (std::string(value) == dtype_setting_name(t)) return t;
  }
  throw Error(std::string("config.") + field + ": \"" + value + "\" is not one of auto, float32, float16, bfloat16");
}

// kv_cache_dtype: parse_dtype_setting's names plus "fp8" / "fp8_e4m3" (vLLM's names) for the
// E4M3 cache with per-(slot, head) scales (core/kv_fp8.h).
inline std::optional<DType> parse_kv_cache_dtype_setting(const char* value) {
  if (value != nullptr && (std::string(value) == "fp8" || std::string(value) == "fp8_e4m3")) return DType::kF8E4M3;
  if (value != nullptr && std::string(value) == dtype_setting_name(DType::kF8E4M3)) return DType::kF8E4M3;
  try {
    return parse_dtype_setting(value, "kv_cache_dtype");
  } catch (const Error&) {
    throw Error(std::string("config.kv_cache_dtype: \"") + value +
                "\" is not one of auto, float32, float16, bfloat16, fp8");
  }
}

// Index of `value` in `allowed`; anything else is an Error that names `field` and the allowed
// values (the engine has already replaced an unset value by the default).
inline int choice_index(const std::string& value, std::initializer_list<const char*> allowed, const char* field) {
  int i = 0;
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return i;
    list += (i++ > 0 ? ", " : "") + std::string(a);
  }
  throw Error(std::string("config.") + field + ": \"" + value + "\" is not one of " + list);
}

}  // namespace deepinfer
