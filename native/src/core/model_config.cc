#include "core/model_config.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdlib>

#include "core/error.h"
#include "core/json.h"
#include "core/mapped_file.h"

namespace deepinfer {

const char* family_name(ModelFamily f) {
  switch (f) {
    case ModelFamily::kLlama: return "llama";
    case ModelFamily::kMistral: return "mistral";
    case ModelFamily::kQwen2: return "qwen2";
    case ModelFamily::kQwen3: return "qwen3";
  }
  return "?";
}

namespace {

class Fields {
 public:
  Fields(const Json& j, const std::string& where) : j_(j), where_(where) {}

  const Json* get(const char* key) const {
    const Json* v = j_.find(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }
  [[noreturn]] void bad(const char* key, const std::string& what) const {
    throw Error(where_ + ": field \"" + key + "\" " + what);
  }
  int64_t req_int(const char* key, int64_t min_value) const {
    const Json* v = get(key);
    if (v == nullptr) bad(key, "is missing");
    return check_int(key, *v, min_value);
  }
  int64_t opt_int(const char* key, int64_t dflt, int64_t min_value) const {
    const Json* v = get(key);
    return v == nullptr ? dflt : check_int(key, *v, min_value);
  }
  double opt_num(const char* key, double dflt) const {
    const Json* v = get(key);
    if (v == nullptr) return dflt;
    if (!v->is_number()) bad(key, std::string("must be a number, got ") + Json::type_name(v->type()));
    return v->as_double();
  }
  bool opt_bool(const char* key, bool dflt) const {
    const Json* v = get(key);
    if (v == nullptr) return dflt;
    if (!v->is_bool()) bad(key, std::string("must be true or false, got ") + Json::type_name(v->type()));
    return v->as_bool();
  }
  std::string opt_str(const char* key) const {
    const Json* v = get(key);
    if (v == nullptr) return "";
    if (!v->is_string()) bad(key, std::string("must be a string, got ") + Json::type_name(v->type()));
    return v->as_string();
  }
  // eos_token_id may be an int or a list of ints.
  std::vector<int32_t> opt_id_list(const char* key) const {
    std::vector<int32_t> out;
    const Json* v = get(key);
    if (v == nullptr) return out;
    if (v->is_array()) {
      for (const Json& x : v->items()) out.push_back(static_cast<int32_t>(check_int(key, x, 0)));
    } else {
      out.push_back(static_cast<int32_t>(check_int(key, *v, 0)));
    }
    return out;
  }

 private:
  int64_t check_int(const char* key, const Json& v, int64_t min_value) const {
    if (!v.is_integer()) bad(key, std::string("must be an integer, got ") + Json::type_name(v.type()));
    if (v.as_int() < min_value) bad(key, "must be >= " + std::to_string(min_value) + ", got " + std::to_string(v.as_int()));
    return v.as_int();
  }
  const Json& j_;
  std::string where_;
};

Json parse_or_throw(const std::string& text, const std::string& where) {
  Json j;
  std::string err;
  if (!Json::parse(text.data(), text.size(), &j, &err)) throw Error("invalid " + where + ": " + err);
  if (!j.is_object()) throw Error("invalid " + where + ": top level is not a JSON object");
  return j;
}

// config.json's "quantization_config". Supported: compressed-tensors "float-quantized" FP8
// weights (8-bit float, per-tensor, per-channel or block scales) with dynamic (or no)
// activation quantization, and the "fp8" method (weight_block_size, dynamic activations).
// Anything else is refused by name: a checkpoint whose weights would be misread must not load.
Fp8Quantization parse_quantization(const Json& q, const std::string& where) {
  Fields f(q, where);
  const std::string method = f.opt_str("quant_method");
  Fp8Quantization out;
  out.enabled = true;
  out.method = method;
  const std::string supported =
      " (supported: compressed-tensors float-quantized FP8 weights with dynamic activations, and fp8 with "
      "weight_block_size)";
  if (method == "fp8") {
    const std::string act = f.opt_str("activation_scheme");
    if (!act.empty() && act != "dynamic") f.bad("activation_scheme", "\"" + act + "\" is not supported (only \"dynamic\")" + supported);
    const Json* bs = f.get("weight_block_size");
    if (bs == nullptr) f.bad("weight_block_size", "is missing: fp8 checkpoints without block scales are not supported" + supported);
    if (!bs->is_array() || bs->items().size() != 2 || !bs->items()[0].is_integer() || !bs->items()[1].is_integer() ||
        bs->items()[0].as_int() < 1 || bs->items()[1].as_int() < 1) {
      f.bad("weight_block_size", "must be [rows, columns], two positive integers");
    }
    out.scales = Fp8Quantization::Scales::kBlock;
    out.block_n = static_cast<int>(bs->items()[0].as_int());
    out.block_k = static_cast<int>(bs->items()[1].as_int());
    out.scale_suffix = "_scale_inv";
    return out;
  }
  if (method != "compressed-tensors") {
    f.bad("quant_method", "\"" + method + "\" is not supported" + supported);
  }
  const std::string format = f.opt_str("format");
  if (format != "float-quantized") f.bad("format", "\"" + format + "\" is not supported" + supported);
  if (f.get("kv_cache_scheme") != nullptr) f.bad("kv_cache_scheme", "(KV-cache scales in the checkpoint) is not supported");
  const Json* groups = f.get("config_groups");
  if (groups == nullptr || !groups->is_object() || groups->members().empty()) f.bad("config_groups", "must be a non-empty object");
  bool first = true;
  for (const auto& [name, group] : groups->members()) {
    const std::string gwhere = where + " config_groups." + name;
    if (!group.is_object()) throw Error(gwhere + ": must be an object");
    Fields g(group, gwhere);
    const Json* w = g.get("weights");
    if (w == nullptr || !w->is_object()) g.bad("weights", "must be an object");
    Fields wf(*w, gwhere + ".weights");
    if (wf.opt_int("num_bits", 0, 0) != 8 || wf.opt_str("type") != "float") {
      wf.bad("type", "must describe 8-bit float weights (num_bits 8, type \"float\")" + supported);
    }
    if (wf.opt_bool("dynamic", false)) wf.bad("dynamic", "true (dynamic weight scales) is not supported");
    const std::string strategy = wf.opt_str("strategy");
    Fp8Quantization::Scales scales;
    int bn = 0, bk = 0;
    if (strategy == "tensor") {
      scales = Fp8Quantization::Scales::kTensor;
    } else if (strategy == "channel") {
      scales = Fp8Quantization::Scales::kChannel;
    } else if (strategy == "block") {
      const Json* bs = wf.get("block_structure");
      if (bs == nullptr || !bs->is_array() || bs->items().size() != 2 || !bs->items()[0].is_integer() ||
          !bs->items()[1].is_integer() || bs->items()[0].as_int() < 1 || bs->items()[1].as_int() < 1) {
        wf.bad("block_structure", "must be [rows, columns], two positive integers");
      }
      scales = Fp8Quantization::Scales::kBlock;
      bn = static_cast<int>(bs->items()[0].as_int());
      bk = static_cast<int>(bs->items()[1].as_int());
    } else {
      wf.bad("strategy", "\"" + strategy + "\" is not supported (tensor, channel or block)");
    }
    if (const Json* a = g.get("input_activations")) {
      if (!a->is_object()) g.bad("input_activations", "must be an object or null");
      Fields af(*a, gwhere + ".input_activations");
      if (!af.opt_bool("dynamic", false)) {
        af.bad("dynamic", "false (static activation scales) is not supported: use a checkpoint with dynamic activation "
                          "quantization (e.g. an -FP8-dynamic one)");
      }
    }
    if (!first && (scales != out.scales || bn != out.block_n || bk != out.block_k)) {
      throw Error(gwhere + ": config groups with different weight strategies are not supported");
    }
    out.scales = scales;
    out.block_n = bn;
    out.block_k = bk;
    first = false;
  }
  out.scale_suffix = "_scale";
  return out;
}

}  // namespace

ModelConfig parse_model_config(const std::string& config_text, const std::string& gen_text,
                               const std::string& where) {
  const std::string cfg_where = where + "/config.json";
  Json j = parse_or_throw(config_text, cfg_where);
  Fields f(j, cfg_where);
  ModelConfig c;

  if (const Json* a = f.get("architectures")) {
    if (!a->is_array() || a->items().empty() || !a->items()[0].is_string()) {
      f.bad("architectures", "must be a non-empty list of strings");
    }
    c.architecture = a->items()[0].as_string();
  }
  c.model_type = f.opt_str("model_type");
  const std::string& arch = c.architecture;
  const std::string& mt = c.model_type;
  if (arch == "LlamaForCausalLM" || (arch.empty() && mt == "llama")) {
    c.family = ModelFamily::kLlama;
  } else if (arch == "MistralForCausalLM" || (arch.empty() && mt == "mistral")) {
    c.family = ModelFamily::kMistral;
  } else if (arch == "Qwen2ForCausalLM" || (arch.empty() && mt == "qwen2")) {
    c.family = ModelFamily::kQwen2;
  } else if (arch == "Qwen3ForCausalLM" || (arch.empty() && mt == "qwen3")) {
    c.family = ModelFamily::kQwen3;
  } else {
    throw Error(cfg_where + ": unsupported architecture \"" + (arch.empty() ? mt : arch) +
                "\" (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  }

  c.hidden_size = static_cast<int>(f.req_int("hidden_size", 1));
  c.intermediate_size = static_cast<int>(f.req_int("intermediate_size", 1));
  c.num_layers = static_cast<int>(f.req_int("num_hidden_layers", 1));
  c.num_heads = static_cast<int>(f.req_int("num_attention_heads", 1));
  c.num_kv_heads = static_cast<int>(f.opt_int("num_key_value_heads", c.num_heads, 1));
  c.vocab_size = static_cast<int>(f.req_int("vocab_size", 1));
  c.max_position_embeddings = f.opt_int("max_position_embeddings", 2048, 1);
  c.rms_norm_eps = f.opt_num("rms_norm_eps", 1e-6);
  c.rope_theta = f.opt_num("rope_theta", 10000.0);
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings", false);
  c.torch_dtype = f.opt_str("torch_dtype");
  if (c.num_heads % c.num_kv_heads != 0) {
    f.bad("num_key_value_heads", "(" + std::to_string(c.num_kv_heads) + ") must divide num_attention_heads (" +
                                     std::to_string(c.num_heads) + ")");
  }
  if (f.get("head_dim") != nullptr) {
    c.head_dim = static_cast<int>(f.req_int("head_dim", 2));
  } else {
    if (c.hidden_size % c.num_heads != 0) f.bad("hidden_size", "is not a multiple of num_attention_heads and head_dim is absent");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0) f.bad("head_dim", "must be even for RoPE");

  const std::string act = f.opt_str("hidden_act");
  if (!act.empty() && act != "silu") f.bad("hidden_act", "\"" + act + "\" is not supported (only \"silu\")");
  if (f.opt_bool("mlp_bias", false)) f.bad("mlp_bias", "true is not supported");

  switch (c.family) {
    case ModelFamily::kQwen2:
      c.qkv_bias = true;  // Qwen2's attention always has q/k/v bias; the config has no flag for it
      break;
    case ModelFamily::kQwen3:
      c.qk_norm = true;
      c.qkv_bias = f.opt_bool("attention_bias", false);
      break;
    default:
      c.qkv_bias = f.opt_bool("attention_bias", false);
      break;
  }

  // Sliding-window attention is not implemented: attention is always over the whole context.
  // That is exact as long as no sequence is longer than the window, so the window caps the
  // context length instead of being refused.
  bool use_sw = true;
  if (c.family == ModelFamily::kQwen2 || c.family == ModelFamily::kQwen3) use_sw = f.opt_bool("use_sliding_window", false);
  if (use_sw) {
    int64_t sw = f.opt_int("sliding_window", 0, 0);
    if (sw > 0 && sw < c.max_position_embeddings) c.max_position_embeddings = sw;
  }

  // RoPE: transformers < 5 writes rope_theta at the top level and the scaling under
  // "rope_scaling"; transformers >= 5 writes both into one "rope_parameters" object
  // ({"rope_type", "rope_theta", "factor", ...}). Either layout is read; when both are
  // present "rope_parameters" wins (it is what transformers itself reads then).
  const Json* rope_obj = nullptr;
  std::string rope_field;
  if (const Json* rp = f.get("rope_parameters")) {
    if (!rp->is_object()) f.bad("rope_parameters", "must be an object or null");
    rope_obj = rp;
    rope_field = "rope_parameters";
  } else if (const Json* rs = f.get("rope_scaling")) {
    if (!rs->is_object()) f.bad("rope_scaling", "must be an object or null");
    rope_obj = rs;
    rope_field = "rope_scaling";
  }
  if (rope_obj != nullptr) {
    Fields r(*rope_obj, cfg_where + " " + rope_field);
    if (rope_field == "rope_parameters") c.rope_theta = r.opt_num("rope_theta", c.rope_theta);
    std::string type = r.opt_str("rope_type");
    if (type.empty()) type = r.opt_str("type");
    if (type == "llama3") {
      c.rope_scaling.enabled = true;
      c.rope_scaling.factor = r.opt_num("factor", 8.0);
      c.rope_scaling.low_freq_factor = r.opt_num("low_freq_factor", 1.0);
      c.rope_scaling.high_freq_factor = r.opt_num("high_freq_factor", 4.0);
      c.rope_scaling.original_max_position_embeddings = r.opt_int("original_max_position_embeddings", 8192, 1);
      if (!(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor)) {
        r.bad("high_freq_factor", "must be greater than low_freq_factor");
      }
    } else if (type != "default" && !(type.empty() && rope_field == "rope_parameters")) {
      f.bad(rope_field.c_str(), "type \"" + type + "\" is not supported (only \"llama3\")");
    }
  }

  if (const Json* q = f.get("quantization_config")) {
    if (!q->is_object()) f.bad("quantization_config", "must be an object or null");
    c.fp8 = parse_quantization(*q, cfg_where + " quantization_config");
  }

  const std::vector<int32_t> bos = f.opt_id_list("bos_token_id");
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  c.eos_token_ids = f.opt_id_list("eos_token_id");

  if (!gen_text.empty()) {
    const std::string gen_where = where + "/generation_config.json";
    Json g = parse_or_throw(gen_text, gen_where);
    Fields gf(g, gen_where);
    std::vector<int32_t> eos = gf.opt_id_list("eos_token_id");
    if (!eos.empty()) c.eos_token_ids = eos;
    std::vector<int32_t> gbos = gf.opt_id_list("bos_token_id");
    if (!gbos.empty()) c.bos_token_id = gbos[0];
  }
  for (int32_t id : c.eos_token_ids) {
    if (id >= c.vocab_size) f.bad("eos_token_id", std::to_string(id) + " is outside the vocabulary");
  }
  return c;
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string cfg = dir + "/config.json";
  if (!file_exists(cfg)) throw Error("missing file " + cfg);
  std::string gen;
  if (file_exists(dir + "/generation_config.json")) gen = read_text_file(dir + "/generation_config.json");
  return parse_model_config(read_text_file(cfg), gen, dir);
}

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string resolve_model_path(const std::string& model) {
  if (dir_exists(model)) return model;
  // A Hub id is exactly "org/name": one slash, no leading '.' or '/'.
  const size_t slash = model.find('/');
  const bool hub_like = !model.empty() && model[0] != '/' && model[0] != '.' && slash != std::string::npos &&
                        slash > 0 && slash + 1 < model.size() && model.find('/', slash + 1) == std::string::npos;
  if (!hub_like) throw Error("model directory " + model + " does not exist");
  std::string hub;
  if (const char* c = std::getenv("HF_HUB_CACHE")) {
    hub = c;
  } else if (const char* h = std::getenv("HF_HOME")) {
    hub = std::string(h) + "/hub";
  } else if (const char* home = std::getenv("HOME")) {
    hub = std::string(home) + "/.cache/huggingface/hub";
  } else {
    throw Error("model " + model + " is not a directory and neither HF_HOME nor HOME is set");
  }
  const std::string repo = hub + "/models--" + model.substr(0, slash) + "--" + model.substr(slash + 1);
  const std::string snaps = repo + "/snapshots";
  if (!dir_exists(snaps)) {
    throw Error("model " + model + " is neither a local directory nor in the Hugging Face cache (looked for " + snaps + ")");
  }
  const std::string ref = repo + "/refs/main";
  if (file_exists(ref)) {
    const std::string rev = trim(read_text_file(ref));
    if (!rev.empty() && dir_exists(snaps + "/" + rev)) return snaps + "/" + rev;
  }
  DIR* d = ::opendir(snaps.c_str());
  if (d == nullptr) throw Error("cannot list " + snaps);
  std::string best;
  long long best_mtime = -1;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    const std::string p = snaps + "/" + n;
    if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (static_cast<long long>(st.st_mtime) > best_mtime) {
      best_mtime = st.st_mtime;
      best = p;
    }
  }
  ::closedir(d);
  if (best.empty()) throw Error("model " + model + ": no snapshot in " + snaps);
  return best;
}

}  // namespace deepinfer
