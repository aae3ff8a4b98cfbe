// Binds the tensors of a safetensors catalog to the model's structure, checking every name
// and shape against the config. The views point into the memory-mapped files; a backend
// copies (or uploads) what it needs from them.
#pragma once

#include <map>
#include <vector>

#include "core/model_config.h"
#include "core/safetensors.h"

namespace deepinfer {

struct LayerTensors {
  const TensorView* attn_norm = nullptr;  // [D]            input_layernorm
  const TensorView* wq = nullptr;         // [Hq*hd, D]
  const TensorView* wk = nullptr;         // [Hkv*hd, D]
  const TensorView* wv = nullptr;         // [Hkv*hd, D]
  const TensorView* bq = nullptr;         // [Hq*hd]  or null (no qkv bias)
  const TensorView* bk = nullptr;         // [Hkv*hd] or null
  const TensorView* bv = nullptr;         // [Hkv*hd] or null
  const TensorView* q_norm = nullptr;     // [hd] or null (Qwen3 only)
  const TensorView* k_norm = nullptr;     // [hd] or null (Qwen3 only)
  const TensorView* wo = nullptr;         // [D, Hq*hd]
  const TensorView* mlp_norm = nullptr;   // [D]            post_attention_layernorm
  const TensorView* w_gate = nullptr;     // [I, D]
  const TensorView* w_up = nullptr;       // [I, D]
  const TensorView* w_down = nullptr;     // [D, I]
};

struct ModelWeights {
  const TensorView* embed = nullptr;       // [V, D]  model.embed_tokens.weight
  std::vector<LayerTensors> layers;        // [L]
  const TensorView* final_norm = nullptr;  // [D]      model.norm.weight
  const TensorView* lm_head = nullptr;     // [V, D]  lm_head.weight, or == embed when tied
  // FP8 linear weights (F8_E4M3) and their scales, checked against cfg.fp8's strategy:
  // kTensor [1] or [], kChannel [N, 1] or [N], kBlock [ceil(N/bn), ceil(K/bk)]. Linear layers
  // left unquantized by the checkpoint (its "ignore" list: usually lm_head) are not in here.
  std::map<const TensorView*, const TensorView*> fp8_scales;
};

// The scale of an FP8 weight's element (row n, column k), as f32.
float fp8_scale_at(const Fp8Quantization& q, const TensorView& scale, int64_t n, int64_t k, int64_t K);

// Throws Error naming the missing tensor, or the tensor with its expected and actual shape.
ModelWeights bind_weights(const ModelConfig& cfg, const SafetensorsCatalog& cat);

}  // namespace deepinfer
