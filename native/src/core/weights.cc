#include "core/weights.h"

#include "core/error.h"
#include "core/tensor_elem.h"

namespace deepinfer {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

const TensorView* need(const SafetensorsCatalog& cat, const std::string& name, std::vector<int64_t> shape) {
  const TensorView* t = cat.find(name);
  if (t == nullptr) throw Error("missing tensor " + name + " (expected shape " + shape_str(shape) + ")");
  if (t->shape != shape) {
    throw Error("tensor " + name + " has shape " + shape_str(t->shape) + " but the config implies " + shape_str(shape));
  }
  return t;
}

// A linear layer's weight: FP8 ones get their scale checked and recorded.
void bind_linear(const ModelConfig& c, const SafetensorsCatalog& cat, const TensorView* t, ModelWeights* w) {
  if (t->dtype != DType::kF8E4M3) return;
  if (!c.fp8.enabled) throw Error("tensor " + t->name + " is F8_E4M3 but config.json has no quantization_config");
  const std::string scale_name = t->name + c.fp8.scale_suffix;
  const TensorView* s = cat.find(scale_name);
  if (s == nullptr) throw Error("missing tensor " + scale_name + " (the scale of FP8 weight " + t->name + ")");
  if (s->dtype == DType::kF8E4M3) throw Error("tensor " + scale_name + " must be F32, BF16 or F16");
  const int64_t N = t->shape[0], K = t->shape[1];
  bool ok = false;
  std::string want;
  switch (c.fp8.scales) {
    case Fp8Quantization::Scales::kTensor:
      ok = s->numel() == 1;
      want = "[1]";
      break;
    case Fp8Quantization::Scales::kChannel:
      ok = s->shape == std::vector<int64_t>{N, 1} || s->shape == std::vector<int64_t>{N};
      want = "[" + std::to_string(N) + ", 1]";
      break;
    case Fp8Quantization::Scales::kBlock: {
      const std::vector<int64_t> b = {(N + c.fp8.block_n - 1) / c.fp8.block_n, (K + c.fp8.block_k - 1) / c.fp8.block_k};
      ok = s->shape == b;
      want = shape_str(b);
      break;
    }
  }
  if (!ok) throw Error("tensor " + scale_name + " has shape " + shape_str(s->shape) + " but the quantization_config implies " + want);
  w->fp8_scales[t] = s;
}

}  // namespace

float fp8_scale_at(const Fp8Quantization& q, const TensorView& scale, int64_t n, int64_t k, int64_t K) {
  switch (q.scales) {
    case Fp8Quantization::Scales::kTensor: return tensor_elem_f32(scale, 0);
    case Fp8Quantization::Scales::kChannel: return tensor_elem_f32(scale, static_cast<size_t>(n));
    case Fp8Quantization::Scales::kBlock: {
      const int64_t cols = (K + q.block_k - 1) / q.block_k;
      return tensor_elem_f32(scale, static_cast<size_t>((n / q.block_n) * cols + k / q.block_k));
    }
  }
  return 0.f;
}

ModelWeights bind_weights(const ModelConfig& c, const SafetensorsCatalog& cat) {
  const int64_t D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, hd = c.head_dim;
  const int64_t q_dim = static_cast<int64_t>(c.num_heads) * hd;
  const int64_t kv_dim = static_cast<int64_t>(c.num_kv_heads) * hd;
  ModelWeights w;
  w.embed = need(cat, "model.embed_tokens.weight", {V, D});
  w.final_norm = need(cat, "model.norm.weight", {D});
  if (c.tie_word_embeddings) {
    // HF ties lm_head to the embedding; a checkpoint may still carry a copy, which we ignore.
    w.lm_head = w.embed;
  } else {
    w.lm_head = need(cat, "lm_head.weight", {V, D});
  }
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerTensors& t = w.layers[static_cast<size_t>(l)];
    t.attn_norm = need(cat, p + "input_layernorm.weight", {D});
    t.wq = need(cat, p + "self_attn.q_proj.weight", {q_dim, D});
    t.wk = need(cat, p + "self_attn.k_proj.weight", {kv_dim, D});
    t.wv = need(cat, p + "self_attn.v_proj.weight", {kv_dim, D});
    if (c.qkv_bias) {
      t.bq = need(cat, p + "self_attn.q_proj.bias", {q_dim});
      t.bk = need(cat, p + "self_attn.k_proj.bias", {kv_dim});
      t.bv = need(cat, p + "self_attn.v_proj.bias", {kv_dim});
    }
    if (c.qk_norm) {
      t.q_norm = need(cat, p + "self_attn.q_norm.weight", {hd});
      t.k_norm = need(cat, p + "self_attn.k_norm.weight", {hd});
    }
    t.wo = need(cat, p + "self_attn.o_proj.weight", {D, q_dim});
    t.mlp_norm = need(cat, p + "post_attention_layernorm.weight", {D});
    t.w_gate = need(cat, p + "mlp.gate_proj.weight", {I, D});
    t.w_up = need(cat, p + "mlp.up_proj.weight", {I, D});
    t.w_down = need(cat, p + "mlp.down_proj.weight", {D, I});
    for (const TensorView* m : {t.wq, t.wk, t.wv, t.wo, t.w_gate, t.w_up, t.w_down}) bind_linear(c, cat, m, &w);
  }
  bind_linear(c, cat, w.lm_head, &w);
  // Only linear layers may be FP8 (their matmuls dequantize; nothing else does).
  for (const TensorView* t : {w.embed, w.final_norm}) {
    if (t->dtype == DType::kF8E4M3) throw Error("tensor " + t->name + " is F8_E4M3; only linear layers may be FP8");
  }
  for (const LayerTensors& t : w.layers) {
    for (const TensorView* v : {t.attn_norm, t.mlp_norm, t.bq, t.bk, t.bv, t.q_norm, t.k_norm}) {
      if (v != nullptr && v->dtype == DType::kF8E4M3) throw Error("tensor " + v->name + " is F8_E4M3; only linear layers may be FP8");
    }
  }
  return w;
}

}  // namespace deepinfer
