#include "core/weights.h"

#include "core/error.h"

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

}  // namespace

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
  }
  return w;
}

}  // namespace deepinfer
