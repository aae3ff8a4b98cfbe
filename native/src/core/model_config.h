// Model hyper-parameters read from a Hugging Face config.json (+ generation_config.json).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace deepinfer {

enum class ModelFamily { kLlama, kMistral, kQwen2, kQwen3 };
const char* family_name(ModelFamily f);

// Llama 3.x frequency-dependent RoPE scaling ("rope_type": "llama3").
struct RopeScalingLlama3 {
  bool enabled = false;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// FP8 (E4M3) weights as published on the Hub, from config.json's "quantization_config": each
// quantized linear layer's `weight` is F8_E4M3 with a scale tensor beside it (`weight_scale`
// for compressed-tensors, `weight_scale_inv` for the fp8 method), value = fp8 × scale.
// Activations are not quantized by the CPU backend (its matmuls dequantize the weights and
// compute in f32), which is why only dynamic activation schemes are accepted: a static one
// would carry input scales that nothing here would apply.
struct Fp8Quantization {
  enum class Scales { kTensor, kChannel, kBlock };
  bool enabled = false;
  std::string method;             // "compressed-tensors" or "fp8"
  Scales scales = Scales::kTensor;
  int block_n = 0, block_k = 0;   // kBlock: one scale per [block_n rows × block_k columns]
  std::string scale_suffix;       // appended to a weight's name: "_scale" or "_scale_inv"
};

struct ModelConfig {
  std::string architecture;  // architectures[0], or "" when absent
  std::string model_type;
  ModelFamily family = ModelFamily::kLlama;
  int hidden_size = 0;         // D
  int intermediate_size = 0;   // I (MLP width)
  int num_layers = 0;          // L
  int num_heads = 0;           // Hq
  int num_kv_heads = 0;        // Hkv; invariant: Hq % Hkv == 0
  int head_dim = 0;            // hd; from config "head_dim" when present, else D / Hq
  int vocab_size = 0;          // V
  int64_t max_position_embeddings = 0;  // clamped to sliding_window when that is smaller
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScalingLlama3 rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 always; Llama/Mistral when attention_bias is true
  bool qk_norm = false;   // Qwen3: per-head RMSNorm on q and k before RoPE
  int32_t bos_token_id = -1;  // -1: the model has none
  std::vector<int32_t> eos_token_ids;  // generation_config.json wins over config.json
  std::string torch_dtype;             // informational ("float32", "bfloat16", ...)
  Fp8Quantization fp8;                 // enabled when the checkpoint's linear weights are FP8
};

// Parses `dir/config.json` and, when present, `dir/generation_config.json`. Throws Error naming
// the file and field on bad JSON, a missing/ill-typed field or an unsupported architecture.
ModelConfig load_model_config(const std::string& dir);
// Same, from JSON text (tests). `gen_text` may be empty.
ModelConfig parse_model_config(const std::string& config_text, const std::string& gen_text,
                               const std::string& where);

// Resolves a local directory or a Hub id (`org/name`) through the local Hugging Face cache:
// $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; inside it
// models--org--name/snapshots/<rev>/ with <rev> from refs/main when present, else the only
// (or most recently modified) snapshot. Throws Error listing where it looked.
std::string resolve_model_path(const std::string& model);

}  // namespace deepinfer
