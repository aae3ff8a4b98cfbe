// Loader errors: every failure gives a clear message naming the file, tensor or field, and
// never crashes. Plus config parsing details and Hub-id resolution through the HF cache.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/model_config.h"
#include "core/safetensors.h"
#include "test_util.h"

using namespace ditest;
using namespace deepinfer;

namespace {

std::string g_tmp;

std::string tmp_root() {
  if (g_tmp.empty()) {
    char t[] = "/tmp/deepinfer-test-loader-XXXXXX";
    g_tmp = ::mkdtemp(t);
  }
  return g_tmp;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string src_model() { return fixtures_dir() + "/llama_gqa1"; }

// A model directory's tensors as a writable list.
std::vector<TensorToWrite> tensors_of(const std::string& dir) {
  auto cat = SafetensorsCatalog::open_dir(dir);
  std::vector<TensorToWrite> out;
  for (const auto& kv : cat->tensors()) {
    const TensorView& v = kv.second;
    out.push_back({v.name, v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.nbytes)});
  }
  return out;
}

std::vector<TensorToWrite> fixture_tensors() { return tensors_of(src_model()); }

// A fresh model dir: the fixture's config files plus the given tensors (or none).
std::string make_dir(const std::string& name, const std::vector<TensorToWrite>* tensors,
                     const std::string* config = nullptr) {
  const std::string d = tmp_root() + "/" + name;
  ::mkdir(d.c_str(), 0755);
  write_file(d + "/config.json", config ? *config : read_text_file(src_model() + "/config.json"));
  write_file(d + "/generation_config.json", read_text_file(src_model() + "/generation_config.json"));
  if (tensors != nullptr) write_safetensors(d + "/model.safetensors", *tensors);
  return d;
}

std::string config_with(const std::string& from, const std::string& to) {
  std::string c = read_text_file(src_model() + "/config.json");
  const size_t p = c.find(from);
  if (p == std::string::npos) return c;
  return c.replace(p, from.size(), to);
}

}  // namespace

TEST(the_fixture_itself_loads) {
  auto t = fixture_tensors();
  di_engine* e = make_engine(make_dir("ok", &t), 1, 4);
  di_engine_free(e);
}

TEST(missing_directory_and_missing_files) {
  expect_create_error("/nonexistent/model/dir", "does not exist");
  const std::string d = tmp_root() + "/empty";
  ::mkdir(d.c_str(), 0755);
  expect_create_error(d, "missing file " + d + "/config.json");
  make_dir("no_weights", nullptr);
  expect_create_error(tmp_root() + "/no_weights", "no model.safetensors or model.safetensors.index.json");
}

TEST(bad_json_in_config) {
  std::string cfg = "{\n  \"hidden_size\": 32,\n  \"vocab_size\": 96,,\n}";
  auto t = fixture_tensors();
  expect_create_error(make_dir("bad_json", &t, &cfg), "config.json: JSON parse error at line 3");
}

TEST(missing_or_ill_typed_config_fields) {
  auto t = fixture_tensors();
  std::string c1 = config_with("\"hidden_size\": 32,", "");
  expect_create_error(make_dir("no_hidden", &t, &c1), "field \"hidden_size\" is missing");
  std::string c2 = config_with("\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"2\"");
  expect_create_error(make_dir("str_layers", &t, &c2), "field \"num_hidden_layers\" must be an integer");
  std::string c3 = config_with("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3");
  expect_create_error(make_dir("kv3", &t, &c3), "num_key_value_heads");
  std::string c4 = config_with("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"");
  expect_create_error(make_dir("gelu", &t, &c4), "field \"hidden_act\" \"gelu\" is not supported");
}

TEST(unsupported_architecture_and_rope_scaling) {
  auto t = fixture_tensors();
  std::string c1 = config_with("\"LlamaForCausalLM\"", "\"GPT2LMHeadModel\"");
  expect_create_error(make_dir("gpt2", &t, &c1), "unsupported architecture \"GPT2LMHeadModel\"");
  std::string c2 = config_with("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}");
  expect_create_error(make_dir("yarn", &t, &c2), "rope_scaling\" type \"yarn\" is not supported");
  std::string c3 = config_with("\"rope_scaling\": null", "\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e6}");
  expect_create_error(make_dir("yarn5", &t, &c3), "rope_parameters\" type \"yarn\" is not supported");
}

TEST(missing_tensor_is_named) {
  auto t = fixture_tensors();
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].name == "model.layers.1.mlp.down_proj.weight") t.erase(t.begin() + static_cast<long>(i));
  }
  expect_create_error(make_dir("missing_tensor", &t), "missing tensor model.layers.1.mlp.down_proj.weight");
  auto u = fixture_tensors();
  for (size_t i = 0; i < u.size(); ++i) {
    if (u[i].name == "lm_head.weight") u.erase(u.begin() + static_cast<long>(i));
  }
  expect_create_error(make_dir("missing_lm_head", &u), "missing tensor lm_head.weight");
}

TEST(wrong_shape_is_named) {
  auto t = fixture_tensors();
  for (auto& x : t) {
    if (x.name == "model.norm.weight") {
      x.shape = {31};
      x.bytes.resize(31 * 4);
    }
  }
  expect_create_error(make_dir("wrong_shape", &t), "tensor model.norm.weight has shape [31] but the config implies [32]");
}

TEST(unsupported_dtype_is_named) {
  // A hand-written header with an I8 tensor.
  const std::string d = make_dir("i8", nullptr);
  std::string header = "{\"model.norm.weight\":{\"dtype\":\"I8\",\"shape\":[32],\"data_offsets\":[0,32]}}";
  std::ofstream f(d + "/model.safetensors", std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << std::string(32, '\0');
  f.close();
  expect_create_error(d, "unsupported dtype I8 for tensor model.norm.weight");
}

// FP8 checkpoints: the quantization_config and the scale tensors are checked; anything the
// engine would misread is refused by name.
namespace {

std::string fp8_model() { return fixtures_dir() + "/llama_fp8_channel"; }

std::vector<TensorToWrite> fp8_tensors() { return tensors_of(fp8_model()); }

std::string fp8_config_with(const std::string& from, const std::string& to) {
  std::string c = read_text_file(fp8_model() + "/config.json");
  const size_t p = c.find(from);
  CHECK_MSG(p != std::string::npos, "fixture config has no %s", from.c_str());
  return p == std::string::npos ? c : c.replace(p, from.size(), to);
}

std::string fp8_dir(const std::string& name, const std::vector<TensorToWrite>& tensors, const std::string& config) {
  const std::string d = tmp_root() + "/" + name;
  ::mkdir(d.c_str(), 0755);
  write_file(d + "/config.json", config);
  write_safetensors(d + "/model.safetensors", tensors);
  return d;
}

}  // namespace

TEST(fp8_checkpoints_load_with_their_types_reported) {
  di_engine* e = make_engine(fp8_model());
  if (e == nullptr) return;
  di_engine_info info;
  di_engine_get_info(e, &info);
  CHECK(std::string(info.weight_dtype) == "F8_E4M3");  // most bytes are the FP8 linear weights
  CHECK(std::string(info.dtype) == "bfloat16");        // the unquantized tensors, as served
  // The linear layers stay one byte per weight plus one f32 scale per row: per layer, q|k|v
  // 128 rows x 64, o 64 x 64, gate|up 256 x 64, down 64 x 128 -> 36864 bytes + 512 scales
  // (2048 bytes); lm_head is unquantized (the checkpoint's ignore list), packed as f32.
  CHECK_EQ(info.weight_bytes_per_step, static_cast<int64_t>(2 * (36864 + 2048) + 128 * 64 * 4));
  di_engine_free(e);
}

TEST(fp8_configs_and_scales_are_checked) {
  const auto t = fp8_tensors();
  const std::string quant = "\"quant_method\": \"compressed-tensors\"";
  expect_create_error(fp8_dir("fp8_awq", t, fp8_config_with(quant, "\"quant_method\": \"awq\"")),
                      "quant_method\" \"awq\" is not supported");
  expect_create_error(fp8_dir("fp8_pack", t, fp8_config_with("\"float-quantized\"", "\"pack-quantized\"")),
                      "format\" \"pack-quantized\" is not supported");
  expect_create_error(fp8_dir("fp8_static", t, fp8_config_with("\"strategy\": \"token\",\n          \"dynamic\": true", "\"strategy\": \"tensor\",\n          \"dynamic\": false")),
                      "static activation scales");
  expect_create_error(fp8_dir("fp8_int8", t, fp8_config_with("\"type\": \"float\",\n          \"strategy\": \"channel\"", "\"type\": \"int\",\n          \"strategy\": \"channel\"")),
                      "8-bit float weights");
  expect_create_error(fp8_dir("fp8_kv", t, fp8_config_with("\"kv_cache_scheme\": null", "\"kv_cache_scheme\": {\"num_bits\": 8}")),
                      "kv_cache_scheme");
  // The weights without the config that says how to read them.
  const std::string cfg = read_text_file(fp8_model() + "/config.json");
  const size_t q = cfg.find("\"quantization_config\"");
  expect_create_error(fp8_dir("fp8_noconfig", t, cfg.substr(0, q) + "\"quantization_config\": null\n}\n"),
                      "is F8_E4M3 but config.json has no quantization_config");

  auto missing = fp8_tensors();
  for (size_t i = 0; i < missing.size(); ++i) {
    if (missing[i].name == "model.layers.1.mlp.up_proj.weight_scale") missing.erase(missing.begin() + static_cast<long>(i));
  }
  expect_create_error(fp8_dir("fp8_noscale", missing, cfg), "missing tensor model.layers.1.mlp.up_proj.weight_scale");
  auto shaped = fp8_tensors();
  for (auto& x : shaped) {
    if (x.name == "model.layers.0.self_attn.q_proj.weight_scale") {
      x.shape = {1, 64};
    }
  }
  expect_create_error(fp8_dir("fp8_scaleshape", shaped, cfg),
                      "tensor model.layers.0.self_attn.q_proj.weight_scale has shape [1, 64] but the quantization_config implies [64, 1]");
  auto embed = fp8_tensors();
  for (auto& x : embed) {
    if (x.name == "model.norm.weight") {
      x.dtype = DType::kF8E4M3;
      x.bytes.resize(64);
    }
  }
  expect_create_error(fp8_dir("fp8_norm", embed, cfg), "tensor model.norm.weight is F8_E4M3; only linear layers may be FP8");
  // fp8 method: block scales are required, activations must be dynamic.
  expect_create_error(fp8_dir("fp8_noblock", t, fp8_config_with(quant, "\"quant_method\": \"fp8\"")), "weight_block_size\" is missing");
}

TEST(truncated_files) {
  auto t = fixture_tensors();
  const std::string d = make_dir("truncated", &t);
  const std::string p = d + "/model.safetensors";
  struct stat st;
  ::stat(p.c_str(), &st);
  CHECK(::truncate(p.c_str(), st.st_size - 100) == 0);
  expect_create_error(d, "truncated safetensors file");
  CHECK(::truncate(p.c_str(), 20) == 0);  // inside the header
  expect_create_error(d, "truncated safetensors file");
  CHECK(::truncate(p.c_str(), 3) == 0);  // not even the length
  expect_create_error(d, "shorter than its 8-byte header length");
}

TEST(bad_safetensors_header) {
  const std::string d = make_dir("bad_header", nullptr);
  std::string header = "{\"a\": [1, 2";
  std::ofstream f(d + "/model.safetensors", std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  f.close();
  expect_create_error(d, "invalid safetensors header in " + d + "/model.safetensors: JSON parse error");
  // byte count that does not match shape x dtype
  std::string h2 = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}";
  std::ofstream g(d + "/model.safetensors", std::ios::binary);
  n = h2.size();
  g.write(reinterpret_cast<const char*>(&n), 8);
  g << h2 << std::string(16, '\0');
  g.close();
  expect_create_error(d, "tensor x in " + d + "/model.safetensors has 12 bytes but its shape and dtype need 16");
}

TEST(sharded_index_errors) {
  const std::string src = fixtures_dir() + "/llama_sharded";
  const std::string d = tmp_root() + "/shards";
  ::mkdir(d.c_str(), 0755);
  for (const char* f : {"config.json", "generation_config.json", "model-00001-of-00003.safetensors",
                        "model-00003-of-00003.safetensors", "model.safetensors.index.json"}) {
    write_file(d + "/" + f, read_text_file(src + "/" + f));
  }
  expect_create_error(d, "cannot open " + d + "/model-00002-of-00003.safetensors");
  write_file(d + "/model-00002-of-00003.safetensors", read_text_file(src + "/model-00001-of-00003.safetensors"));
  expect_create_error(d, "appears twice");
  write_file(d + "/model.safetensors.index.json", "{\"metadata\": {}}");
  expect_create_error(d, "missing object field \"weight_map\"");
}

TEST(config_parsing_details) {
  // eos as a list in generation_config overrides config.json's int; head_dim honoured; llama3
  // rope scaling under "type"; Qwen2 always has qkv bias; Mistral sliding window caps context.
  ModelConfig c = parse_model_config(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"vocab_size":10,"eos_token_id":2,
          "rope_scaling":{"type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
          "original_max_position_embeddings":8192}})",
      R"({"eos_token_id":[2,7,9]})", "x");
  CHECK_EQ(c.head_dim, 32);
  CHECK(c.eos_token_ids == std::vector<int32_t>({2, 7, 9}));
  CHECK(c.rope_scaling.enabled && c.rope_scaling.factor == 8.0);
  CHECK_EQ(c.max_position_embeddings, 2048);
  ModelConfig q = parse_model_config(
      R"({"model_type":"qwen2","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":2,"vocab_size":10,"eos_token_id":[3]})", "", "x");
  CHECK(q.family == ModelFamily::kQwen2 && q.qkv_bias && q.num_kv_heads == 2 && q.head_dim == 4);
  CHECK(q.eos_token_ids == std::vector<int32_t>({3}));
  ModelConfig m = parse_model_config(
      R"({"architectures":["MistralForCausalLM"],"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":2,"vocab_size":10,"max_position_embeddings":32768,"sliding_window":4096})", "", "x");
  CHECK_EQ(m.max_position_embeddings, 4096);
  // transformers >= 5 layout: theta and scaling in one "rope_parameters" object.
  ModelConfig v5 = parse_model_config(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":2,"vocab_size":10,"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,
          "factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64}})",
      "", "x");
  CHECK(v5.rope_theta == 500000.0);
  CHECK(v5.rope_scaling.enabled && v5.rope_scaling.factor == 32.0);
  CHECK_EQ(v5.rope_scaling.original_max_position_embeddings, 64);
  ModelConfig v5d = parse_model_config(
      R"({"model_type":"qwen2","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,
          "vocab_size":10,"rope_theta":5.0,"rope_parameters":{"rope_type":"default","rope_theta":1000000.0}})",
      "", "x");
  CHECK(v5d.rope_theta == 1000000.0 && !v5d.rope_scaling.enabled);
  bool threw = false;
  try {
    parse_model_config(R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
        "num_attention_heads":2,"vocab_size":10})", R"({"eos_token_id": "2"})", "dir");
  } catch (const Error& e) {
    threw = std::string(e.what()).find("dir/generation_config.json: field \"eos_token_id\" must be an integer") != std::string::npos;
  }
  CHECK(threw);
}

TEST(hub_id_resolves_through_the_hf_cache) {
  const std::string hf = tmp_root() + "/hf_home";
  const std::string repo = hf + "/hub/models--tiny-org--tiny-llama";
  for (const std::string& d : {hf, hf + "/hub", repo, repo + "/refs", repo + "/snapshots",
                               repo + "/snapshots/aaaa", repo + "/snapshots/bbbb"}) {
    ::mkdir(d.c_str(), 0755);
  }
  write_file(repo + "/refs/main", "bbbb\n");
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors"}) {
    write_file(repo + "/snapshots/bbbb/" + f, read_text_file(src_model() + "/" + f));
  }
  ::setenv("HF_HOME", hf.c_str(), 1);
  ::unsetenv("HF_HUB_CACHE");
  CHECK(resolve_model_path("tiny-org/tiny-llama") == repo + "/snapshots/bbbb");
  di_engine* e = make_engine("tiny-org/tiny-llama", 1, 4);
  di_engine_free(e);
  expect_create_error("tiny-org/not-there", "neither a local directory nor in the Hugging Face cache");
  ::unlink((repo + "/refs/main").c_str());  // no ref: newest snapshot
  CHECK(resolve_model_path("tiny-org/tiny-llama").find(repo + "/snapshots/") == 0);
}

TEST(step_inputs_are_validated) {
  di_engine* e = make_engine(src_model(), 1, 4, 4);
  if (e == nullptr) return;
  std::vector<int32_t> toks = {1, 2, 3, 4, 5};
  std::vector<int32_t> blocks = {0};
  di_step_seq s;
  std::memset(&s, 0, sizeof(s));
  di_sampling_params_init(&s.sampling);
  s.token_ids = toks.data();
  s.num_tokens = 5;
  s.block_table = blocks.data();
  s.num_blocks = 1;
  s.sample = 1;
  di_seq_output so;
  di_step_input in{&s, 1, nullptr, nullptr};
  di_step_output out{&so, nullptr, 0};
  char err[512];
  auto expect = [&](const char* needle) {
    err[0] = 0;
    CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) != 0);
    CHECK_MSG(std::strstr(err, needle) != nullptr, "\"%s\" lacks \"%s\"", err, needle);
  };
  expect("step: seqs[0].block_table has 1 blocks but positions [0, 5) need 2");
  blocks = {0, 9};
  s.block_table = blocks.data();
  s.num_blocks = 2;
  expect("block_table[1] = 9 is not a block id in [0, 4)");
  blocks = {0, 1};
  toks[2] = 96;
  expect("token_ids[2] = 96 is outside the vocabulary");
  toks[2] = 3;
  s.sampling.top_p = 0.f;
  expect("sampling.top_p");
  s.sampling.top_p = 1.f;
  CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) == 0);
  di_engine_free(e);
}

TEST(probe_reads_config_only_and_agrees_with_the_engine) {
  // A directory with config.json but no weights: the probe still answers (it opens no weights).
  make_dir("probe_no_weights", nullptr);
  di_model_probe_info p;
  char err[512] = {0};
  CHECK_EQ(di_model_probe((tmp_root() + "/probe_no_weights").c_str(), DI_BACKEND_CPU, 32, nullptr, &p, err, sizeof(err)), 0);
  CHECK_EQ(p.block_size, 32);
  auto t = fixture_tensors();
  const std::string dir = make_dir("probe_ok", &t);
  CHECK_EQ(di_model_probe(dir.c_str(), DI_BACKEND_CPU, 8, nullptr, &p, err, sizeof(err)), 0);
  di_engine* e = make_engine(dir, 1, 4, 8);
  if (e != nullptr) {
    di_engine_info info;
    CHECK_EQ(di_engine_get_info(e, &info), 0);
    CHECK_EQ(p.kv_block_bytes, info.kv_block_bytes);
    CHECK_EQ(p.vocab_size, info.vocab_size);
    CHECK_EQ(p.max_position_embeddings, info.max_position_embeddings);
    di_engine_free(e);
  }
  CHECK(di_model_probe("/nonexistent/model/dir", DI_BACKEND_CPU, 16, nullptr, &p, err, sizeof(err)) != 0);
  CHECK(std::strstr(err, "does not exist") != nullptr);
}

// Registered last, so it runs last: remove this binary's temporary model directories.
TEST(cleanup_temporary_directories) {
  if (!g_tmp.empty() && g_tmp.rfind("/tmp/deepinfer-test-loader-", 0) == 0) {
    CHECK(std::system(("rm -rf '" + g_tmp + "'").c_str()) == 0);
  }
}

TEST_MAIN()
