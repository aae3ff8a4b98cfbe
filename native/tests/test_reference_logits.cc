// Logits of tiny random-weight models (tests/fixtures, made by reference/make_goldens.py
// with an independent float64 torch forward, and the FP8 ones by make_fp8_goldens.py in numpy) must match the goldens at every prompt
// position, both when the prompt is prefilled in one step and when it is decoded token by
// token through a scrambled block table.
//
// Tolerance: |ours - ref| <= 2e-5 * max(1, max|ref| of the row). Our engine computes in f32
// from the same stored weights (bf16/f16 widened exactly), so the expected error is f32
// rounding accumulated over 2 layers: measured 2e-7..1.2e-6 relative on AVX2; 2e-5 leaves margin for the
// vector exp while still catching any layout or formula mistake (those give O(1) errors).
#include <algorithm>

#include "core/json.h"
#include "core/mapped_file.h"
#include "test_util.h"

using namespace ditest;

namespace {

struct Golden {
  std::vector<int32_t> prompt;
  std::vector<std::vector<double>> logits;  // [P][V]
};

bool load_golden(const std::string& dir, Golden* g) {
  std::string text = deepinfer::read_text_file(dir + "/golden.json");
  deepinfer::Json j;
  std::string err;
  if (!deepinfer::Json::parse(text.data(), text.size(), &j, &err)) {
    std::printf("  %s: %s\n", dir.c_str(), err.c_str());
    return false;
  }
  for (const auto& v : j.find("prompt")->items()) g->prompt.push_back(static_cast<int32_t>(v.as_int()));
  for (const auto& row : j.find("logits")->items()) {
    std::vector<double> r;
    for (const auto& v : row.items()) r.push_back(v.as_double());
    g->logits.push_back(r);
  }
  return true;
}

double row_error(const float* ours, const std::vector<double>& ref) {
  double scale = 1.0, err = 0.0;
  for (double v : ref) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(ours[i] - ref[i]));
  return err / scale;
}

constexpr double kTol = 2e-5;

void check_model(const std::string& name) {
  const std::string dir = fixtures_dir() + "/" + name;
  Golden g;
  if (!load_golden(dir, &g)) {
    CHECK(false);
    return;
  }
  const int P = static_cast<int>(g.prompt.size());
  const int V = static_cast<int>(g.logits[0].size());
  const int bs = 4;
  di_engine* e = make_engine(dir, 2, 64, bs);
  if (e == nullptr) return;
  di_engine_info info;
  di_engine_get_info(e, &info);
  CHECK_EQ(info.vocab_size, V);

  // (a) whole prompt in one step: last-position logits.
  Seq s;
  s.prompt = g.prompt;
  for (int i = 0; i < (P + bs - 1) / bs; ++i) s.blocks.push_back(i);
  std::vector<float> logits(static_cast<size_t>(V));
  std::vector<di_step_seq> items{step_item(s, P, s.prompt)};
  std::vector<di_seq_output> outs;
  run_step(e, items, &outs, logits.data());
  const double err_prefill = row_error(logits.data(), g.logits[static_cast<size_t>(P - 1)]);
  CHECK_MSG(err_prefill <= kTol, "%s prefill: relative error %.3g", name.c_str(), err_prefill);

  // (b) one token per step through a scrambled block table (blocks 63, 61, 59, ...).
  Seq d;
  d.prompt = g.prompt;
  for (int i = 0; i < (P + bs - 1) / bs; ++i) d.blocks.push_back(63 - 2 * i);
  double worst = 0.0;
  for (int p = 0; p < P; ++p) {
    std::vector<int32_t> upto(g.prompt.begin(), g.prompt.begin() + p + 1);
    Seq view = d;
    view.prompt = upto;
    std::vector<di_step_seq> it{step_item(view, 1, upto)};
    run_step(e, it, &outs, logits.data());
    d.computed += 1;
    worst = std::max(worst, row_error(logits.data(), g.logits[static_cast<size_t>(p)]));
  }
  CHECK_MSG(worst <= kTol, "%s decode: relative error %.3g", name.c_str(), worst);
  std::printf("  %-22s prefill err %.2e, per-position decode err %.2e (tolerance %.0e)\n", name.c_str(), err_prefill,
              worst, kTol);
  di_engine_free(e);
}

}  // namespace

TEST(llama_gqa_1_to_1) { check_model("llama_gqa1"); }
TEST(llama_gqa_2_to_1_tied_embeddings) { check_model("llama_gqa2_tied"); }
TEST(llama_gqa_8_to_1) { check_model("llama_gqa8"); }
TEST(qwen2_qkv_bias) { check_model("qwen2_bias"); }
TEST(qwen3_qk_norm_head_dim_16_not_hidden_over_heads) { check_model("qwen3_qknorm_hd16"); }
TEST(llama3_rope_scaling) { check_model("llama3_rope_scaling"); }
TEST(bf16_weights) { check_model("llama_bf16"); }
TEST(mistral_f16_weights) { check_model("mistral_f16"); }
TEST(sharded_safetensors_with_index) { check_model("llama_sharded"); }
// FP8 (E4M3) checkpoints against float64 logits of the dequantized weights
// (reference/make_fp8_goldens.py, numpy).
TEST(fp8_compressed_tensors_per_channel_bf16) { check_model("llama_fp8_channel"); }
TEST(fp8_compressed_tensors_per_tensor_tied) { check_model("llama_fp8_tensor"); }
TEST(fp8_block_scales_partial_blocks_quantized_lm_head) { check_model("llama_fp8_block"); }

TEST_MAIN()
