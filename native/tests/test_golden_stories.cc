// The bundled stories260k model (a real trained Llama, f32, tied embeddings, GQA 8:4,
// head_dim 8) must reproduce the llama2.c project's published greedy output exactly.
#include "test_util.h"

using namespace ditest;

namespace {
std::string model() { return models_dir() + "/stories260k"; }
std::vector<int32_t> expected() { return read_ids(model() + "/expected_greedy_from_bos_200_tokens.ids"); }
}  // namespace

TEST(greedy_from_bos_200_tokens_matches_golden) {
  std::vector<int32_t> want = expected();
  CHECK_EQ(want.size(), 201u);  // BOS + 200
  di_engine* e = make_engine(model(), 2);
  if (e == nullptr) return;
  std::vector<int32_t> got = generate(e, {1}, 200);
  got.insert(got.begin(), 1);
  CHECK(got == want);
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (got[i] != want[i]) {
      std::printf("  first difference at index %zu: got %d, want %d\n", i, got[i], want[i]);
      break;
    }
  }
  di_engine_free(e);
}

TEST(single_thread_and_multi_token_prefill_match_golden) {
  // "Once upon a time" = the golden's first five ids: prefill them in one step (and in chunks
  // of 2), then decode; the continuation must be the golden's.
  std::vector<int32_t> want = expected();
  di_engine* e = make_engine(model(), 1);
  if (e == nullptr) return;
  std::vector<int32_t> prompt(want.begin(), want.begin() + 5);
  std::vector<int32_t> rest(want.begin() + 5, want.end());
  CHECK(generate(e, prompt, static_cast<int>(rest.size())) == rest);
  CHECK(generate(e, prompt, 40, 2) == std::vector<int32_t>(rest.begin(), rest.begin() + 40));
  di_engine_free(e);
}

TEST(engine_info_reports_the_model) {
  di_engine* e = make_engine(model(), 1, 64, 16);
  if (e == nullptr) return;
  di_engine_info info;
  CHECK_EQ(di_engine_get_info(e, &info), 0);
  CHECK_EQ(info.num_layers, 5);
  CHECK_EQ(info.num_heads, 8);
  CHECK_EQ(info.num_kv_heads, 4);
  CHECK_EQ(info.head_dim, 8);
  CHECK_EQ(info.vocab_size, 512);
  CHECK_EQ(info.max_position_embeddings, 512);
  CHECK_EQ(info.bos_token_id, 1);
  CHECK_EQ(info.num_eos_ids, 2);
  CHECK_EQ(info.eos_token_ids[0], 2);
  CHECK_EQ(info.eos_token_ids[1], 1);
  CHECK(std::string(info.weight_dtype) == "F32");
  CHECK(std::string(info.architecture) == "LlamaForCausalLM");
  CHECK_EQ(info.num_kv_blocks, 64);
  CHECK_EQ(info.kv_block_bytes, 2ll * 5 * 16 * 4 * 8 * 4);
  CHECK(info.weight_bytes > 0);
  CHECK(info.weight_bytes_per_step > 0);
  di_engine_free(e);
}

TEST_MAIN()
