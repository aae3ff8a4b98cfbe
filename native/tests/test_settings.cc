// The engine settings of di_engine_config that are not geometry: dtype (served type, converted
// at load), kv_cache_dtype (refused where the backend cannot store it) and the CUDA choices
// (names validated whatever the backend). CPU backend; test_cuda covers the CUDA side.
#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"

using namespace ditest;

namespace {

std::string stories() { return models_dir() + "/stories260k"; }
std::string bf16_fixture() { return fixtures_dir() + "/llama_bf16"; }

struct Settings {
  const char* dtype = nullptr;
  const char* kv_cache_dtype = nullptr;
  const char* cuda_decode_attn = nullptr;
  const char* cuda_gemm = nullptr;
};

di_engine* create(const std::string& model, const Settings& s, std::string* error) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = model.c_str();
  c.num_threads = 1;
  c.num_kv_blocks = 16;
  c.dtype = s.dtype;
  c.kv_cache_dtype = s.kv_cache_dtype;
  c.cuda_decode_attn = s.cuda_decode_attn;
  c.cuda_gemm = s.cuda_gemm;
  return create_engine(c, error);
}

// Last-position logits of one prompt run as a single prefill.
std::vector<float> logits_of(di_engine* e, const std::vector<int32_t>& prompt) {
  di_engine_info info;
  di_engine_get_info(e, &info);
  std::vector<float> logits(static_cast<size_t>(info.vocab_size));
  Seq s;
  s.prompt = prompt;
  s.blocks = {0, 1};
  std::vector<int32_t> all = s.all();
  std::vector<di_step_seq> items{step_item(s, static_cast<int>(all.size()), all)};
  std::vector<di_seq_output> outs;
  run_step(e, items, &outs, logits.data());
  return logits;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// Ids below 96, the vocabulary of the smallest fixture.
const std::vector<int32_t> kPrompt{1, 43, 47, 61, 78, 10, 20, 30};

}  // namespace

TEST(auto_serves_the_checkpoint_dtype_and_reports_it) {
  std::string err;
  di_engine* f32 = create(stories(), Settings(), &err);
  CHECK_MSG(f32 != nullptr, "%s", err.c_str());
  di_engine* bf16 = create(bf16_fixture(), Settings(), &err);
  CHECK_MSG(bf16 != nullptr, "%s", err.c_str());
  if (f32 == nullptr || bf16 == nullptr) return;
  di_engine_info info;
  di_engine_get_info(f32, &info);
  CHECK(std::string(info.dtype) == "float32");
  CHECK(std::string(info.weight_dtype) == "F32");
  CHECK(std::string(info.kv_cache_dtype) == "float32");
  di_engine_get_info(bf16, &info);
  CHECK(std::string(info.dtype) == "bfloat16");
  CHECK(std::string(info.weight_dtype) == "BF16");
  CHECK(std::string(info.kv_cache_dtype) == "float32");  // the CPU backend's only KV type
  di_engine_free(f32);
  di_engine_free(bf16);
}

// Narrowing rounds every matrix: the logits move, a little; widening a bf16 checkpoint to f32
// is exact (every bf16 value is an f32), so its logits are bit-identical to auto.
TEST(dtype_converts_the_weights_at_load) {
  std::string err;
  di_engine* ref = create(stories(), Settings(), &err);
  Settings half;
  half.dtype = "bfloat16";
  di_engine* narrowed = create(stories(), half, &err);
  CHECK_MSG(narrowed != nullptr, "%s", err.c_str());
  Settings f16;
  f16.dtype = "float16";
  di_engine* narrowed16 = create(stories(), f16, &err);
  CHECK_MSG(narrowed16 != nullptr, "%s", err.c_str());
  if (ref == nullptr || narrowed == nullptr || narrowed16 == nullptr) return;
  di_engine_info info;
  di_engine_get_info(narrowed, &info);
  CHECK(std::string(info.dtype) == "bfloat16");
  CHECK(std::string(info.weight_dtype) == "F32");  // the checkpoint is still f32
  const std::vector<float> a = logits_of(ref, kPrompt);
  const std::vector<float> b = logits_of(narrowed, kPrompt);
  const std::vector<float> c = logits_of(narrowed16, kPrompt);
  const double d_bf16 = max_abs_diff(a, b), d_f16 = max_abs_diff(a, c);
  std::printf("  max |logit difference| vs float32: bfloat16 %.3g, float16 %.3g\n", d_bf16, d_f16);
  CHECK(d_bf16 > 0 && d_bf16 < 0.5);
  CHECK(d_f16 > 0 && d_f16 < d_bf16);  // f16 keeps 3 more mantissa bits than bf16
  di_engine_free(ref);
  di_engine_free(narrowed);
  di_engine_free(narrowed16);

  di_engine* native_bf16 = create(bf16_fixture(), Settings(), &err);
  Settings wide;
  wide.dtype = "float32";
  di_engine* widened = create(bf16_fixture(), wide, &err);
  if (native_bf16 == nullptr || widened == nullptr) return;
  di_engine_get_info(widened, &info);
  CHECK(std::string(info.dtype) == "float32");
  CHECK(max_abs_diff(logits_of(native_bf16, kPrompt), logits_of(widened, kPrompt)) == 0.0);
  di_engine_free(native_bf16);
  di_engine_free(widened);
}

TEST(kv_cache_dtype_is_refused_where_the_backend_cannot_store_it) {
  std::string err;
  Settings f32;
  f32.kv_cache_dtype = "float32";
  di_engine* e = create(stories(), f32, &err);
  CHECK_MSG(e != nullptr, "%s", err.c_str());
  di_engine_free(e);
  for (const char* refused : {"float16", "bfloat16"}) {
    Settings s;
    s.kv_cache_dtype = refused;
    e = create(stories(), s, &err);
    CHECK(e == nullptr);
    di_engine_free(e);
    CHECK_MSG(err.find("config.kv_cache_dtype") != std::string::npos && err.find("cpu backend") != std::string::npos,
              "%s", err.c_str());
  }
}

TEST(unknown_setting_values_name_their_field) {
  std::string err;
  Settings bad_dtype;
  bad_dtype.dtype = "fp8";
  CHECK(create(stories(), bad_dtype, &err) == nullptr);
  CHECK_MSG(err.find("config.dtype: \"fp8\" is not one of") != std::string::npos, "%s", err.c_str());
  // CUDA choices are checked on every backend, so a typo in a config file never goes unseen.
  Settings bad_attn;
  bad_attn.cuda_decode_attn = "flash";
  CHECK(create(stories(), bad_attn, &err) == nullptr);
  CHECK_MSG(err.find("config.cuda_decode_attn: \"flash\" is not one of warp, tiled, mma") != std::string::npos, "%s",
            err.c_str());
  Settings bad_gemm;
  bad_gemm.cuda_gemm = "cutlass";
  CHECK(create(stories(), bad_gemm, &err) == nullptr);
  CHECK_MSG(err.find("config.cuda_gemm") != std::string::npos, "%s", err.c_str());
}

TEST_MAIN()
