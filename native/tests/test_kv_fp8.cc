// The fp8 KV cache (kv_cache_dtype fp8, core/kv_fp8.h) on the CPU backend: the E4M3 encoder, the
// per-(token, head) power-of-two scale, logits against the f32 cache on the reference
// fixtures, stories260k's greedy output, and the bytes per block (the CPU memory plan).
#include <algorithm>
#include <cmath>

#include "core/kv_fp8.h"
#include "core/safetensors.h"
#include "test_util.h"

using namespace ditest;

namespace {

di_engine* make_kv_engine(const std::string& model, const char* kv, int threads, int blocks, int bs) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = model.c_str();
  c.num_threads = threads;
  c.num_kv_blocks = blocks;
  c.block_size = bs;
  c.max_num_batched_tokens = 512;
  c.kv_cache_dtype = kv;
  std::string err;
  di_engine* e = create_engine(c, &err);
  CHECK_MSG(e != nullptr, "create %s (kv %s): %s", model.c_str(), kv, err.c_str());
  return e;
}

// Logits of every position of `prompt`, decoded one token per step.
std::vector<std::vector<float>> decode_logits(di_engine* e, const std::vector<int32_t>& prompt, int V, int bs) {
  std::vector<std::vector<float>> rows;
  Seq d;
  d.prompt = prompt;
  for (int i = 0; i < (static_cast<int>(prompt.size()) + bs - 1) / bs; ++i) d.blocks.push_back(i);
  std::vector<di_seq_output> outs;
  for (size_t p = 0; p < prompt.size(); ++p) {
    std::vector<int32_t> upto(prompt.begin(), prompt.begin() + static_cast<long>(p) + 1);
    Seq view = d;
    view.prompt = upto;
    std::vector<di_step_seq> it{step_item(view, 1, upto)};
    std::vector<float> lg(static_cast<size_t>(V));
    if (!run_step(e, it, &outs, lg.data())) break;
    d.computed += 1;
    rows.push_back(lg);
  }
  return rows;
}

}  // namespace

TEST(e4m3_encoder_round_trips_every_byte_and_rounds_to_nearest_even) {
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;  // NaN
    const float f = deepinfer::f8e4m3_to_f32(static_cast<uint8_t>(b));
    if (b == 0x80) continue;  // -0 encodes as 0x80 too, but compare by value below
    CHECK_MSG(deepinfer::f32_to_f8e4m3(f) == b, "byte 0x%02x (%g) -> 0x%02x", b, f, deepinfer::f32_to_f8e4m3(f));
  }
  // Midpoints go to the even mantissa: 1.0625 is between 1 (m 0) and 1.125 (m 1) -> 1.
  CHECK(deepinfer::f8e4m3_to_f32(deepinfer::f32_to_f8e4m3(1.0625f)) == 1.f);
  CHECK(deepinfer::f8e4m3_to_f32(deepinfer::f32_to_f8e4m3(1.1875f)) == 1.25f);
  CHECK(deepinfer::f8e4m3_to_f32(deepinfer::f32_to_f8e4m3(1e6f)) == 448.f);    // saturates
  CHECK(deepinfer::f8e4m3_to_f32(deepinfer::f32_to_f8e4m3(-1e6f)) == -448.f);
  CHECK(deepinfer::f8e4m3_to_f32(deepinfer::f32_to_f8e4m3(0.0009765625f)) == 0.f);  // 2^-10: half the smallest, to even (0)
  CHECK(deepinfer::f8e4m3_to_f32(deepinfer::f32_to_f8e4m3(0.0029296875f)) == 0.00390625f);  // 1.5 * 2^-9 -> 2 * 2^-9
}

TEST(the_kv_writers_bit_encoder_equals_the_reference_encoder) {
  // Every f32 bit pattern in a sweep over all exponents (and each byte's midpoints and
  // neighbours) must encode as f32_to_f8e4m3 does.
  int bad = 0;
  auto check = [&](float f) {
    if (deepinfer::kv_fp8_encode(f) != deepinfer::f32_to_f8e4m3(f) && bad++ < 5) {
      std::printf("  %a: 0x%02x vs 0x%02x\n", f, deepinfer::kv_fp8_encode(f), deepinfer::f32_to_f8e4m3(f));
    }
  };
  for (uint64_t u = 0; u < 0x100000000ull; u += 4099) {
    const uint32_t v = static_cast<uint32_t>(u);
    float f;
    std::memcpy(&f, &v, 4);
    check(f);
  }
  for (int b = 0; b < 255; ++b) {
    const float lo = deepinfer::f8e4m3_to_f32(static_cast<uint8_t>(b)), hi = deepinfer::f8e4m3_to_f32(static_cast<uint8_t>(b + 1));
    if (std::isnan(lo) || std::isnan(hi)) continue;
    const float mid = 0.5f * (lo + hi);
    for (float f : {mid, std::nextafter(mid, -1e9f), std::nextafter(mid, 1e9f), lo, hi}) check(f);
  }
  CHECK_EQ(bad, 0);
}

TEST(row_quantisation_keeps_every_element_within_half_an_e4m3_ulp) {
  // Rows of very different magnitudes: each gets its own exponent, so the relative error of
  // elements near the row's maximum is <= 2^-4 (3 mantissa bits), whatever the scale.
  for (float mag : {1e-6f, 0.01f, 1.f, 37.f, 5000.f, 3e7f}) {
    std::vector<float> x(64);
    for (int i = 0; i < 64; ++i) x[static_cast<size_t>(i)] = mag * std::sin(0.7f * static_cast<float>(i) + 0.3f);
    std::vector<uint8_t> q(64);
    const int e = deepinfer::kv_fp8_quantize_row(x.data(), 64, q.data());
    float amax = 0.f;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    CHECK(std::ldexp(amax, -e) <= 448.f && std::ldexp(amax, -e) > 224.f);  // the top binade is used
    for (int i = 0; i < 64; ++i) {
      const float back = deepinfer::f8e4m3_to_f32(q[static_cast<size_t>(i)]) * std::ldexp(1.f, e);
      const float v = x[static_cast<size_t>(i)];
      // Normal range: relative 2^-4; below 2^-6 (scaled) the absolute step is 2^-9 * 2^e.
      const float bound = std::max(std::fabs(v) * 0.0625f, std::ldexp(1.f, e - 10));
      CHECK_MSG(std::fabs(back - v) <= bound, "mag %g i %d: %g vs %g", mag, i, back, v);
    }
  }
}

// fp8 K/V against the f32 cache on the reference fixtures, decoding token by token (every
// attention reads only cached K/V). Each K and V element carries a relative error <= 2^-4,
// so a score q.k moves by <= 2^-4 |q||k| and the softmax-weighted V by <= 2^-4 max|v|; through
// 2 layers of random weights the logits move by a few percent of their scale at most.
// Measured (AVX2, block size 4, 18 positions): 0.035-0.085 of the row's largest logit (worst:
// llama_gqa8, 8 query heads on one kv head); the bound is 0.12. A layout or scale mistake gives
// errors of order 1.
TEST(fp8_kv_logits_close_to_f32_kv_on_the_fixtures) {
  const char* names[] = {"llama_gqa2_tied", "llama_gqa8", "qwen3_qknorm_hd16", "qwen2_bias",
                         "llama_fp8_channel", "llama_fp8_tensor", "llama_fp8_block"};
  const std::vector<int32_t> prompt = {1, 17, 42, 5, 99, 23, 7, 64, 3, 11, 88, 30, 2, 45, 60, 9, 12, 77};
  for (const char* n : names) {
    const std::string dir = fixtures_dir() + "/" + n;
    const int bs = 4;
    di_engine* e32 = make_kv_engine(dir, "float32", 2, 64, bs);
    di_engine* e8 = make_kv_engine(dir, "fp8", 2, 64, bs);
    if (e32 == nullptr || e8 == nullptr) return;
    di_engine_info info;
    di_engine_get_info(e8, &info);
    CHECK(std::string(info.kv_cache_dtype) == "float8_e4m3");
    const int V = info.vocab_size;
    std::vector<int32_t> p;
    for (int32_t t : prompt) p.push_back(t % V);
    const auto a = decode_logits(e32, p, V, bs), b = decode_logits(e8, p, V, bs);
    double worst = 0.0;
    for (size_t r = 0; r < a.size() && r < b.size(); ++r) {
      double scale = 1.0, err = 0.0;
      for (int i = 0; i < V; ++i) {
        scale = std::max(scale, static_cast<double>(std::fabs(a[r][static_cast<size_t>(i)])));
        err = std::max(err, static_cast<double>(std::fabs(a[r][static_cast<size_t>(i)] - b[r][static_cast<size_t>(i)])));
      }
      worst = std::max(worst, err / scale);
    }
    std::printf("  %-20s fp8 KV vs f32 KV: max relative logit error %.4f\n", n, worst);
    CHECK_MSG(worst > 0.0 && worst <= 0.12, "%s: %.4f", n, worst);
    di_engine_free(e32);
    di_engine_free(e8);
  }
}

TEST(stories260k_greedy_with_fp8_kv_follows_the_golden) {
  const std::string model = models_dir() + "/stories260k";
  const std::vector<int32_t> want = read_ids(model + "/expected_greedy_from_bos_200_tokens.ids");
  CHECK_EQ(want.size(), 201u);
  for (int threads : {1, 2}) {
    di_engine* e = make_kv_engine(model, "fp8", threads, 256, 16);
    if (e == nullptr) return;
    std::vector<int32_t> got = generate(e, {1}, 200);
    got.insert(got.begin(), 1);
    size_t first_diff = got.size(), same = 0;
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
      if (got[i] == want[i]) ++same;
      if (got[i] != want[i] && first_diff == got.size()) first_diff = i;
    }
    std::printf("  threads %d: %zu of 201 ids equal to the f32 golden, first difference at %zu\n", threads, same,
                first_diff);
    // Measured: the first 21 ids (BOS + 20 generated) are the golden's, then greedy picks the
    // other of two close candidates and the story goes its own way (23 of 201 equal overall).
    CHECK_MSG(first_diff >= 16, "first difference at %zu", first_diff);
    di_engine_free(e);
  }
}

// Teacher-forced: the golden's ids fed one per step with fp8 K/V; how often the argmax is the
// golden's next id (the f32 cache gives 200 of 200 by construction: it is the golden).
TEST(stories260k_teacher_forced_argmax_with_fp8_kv) {
  const std::string model = models_dir() + "/stories260k";
  const std::vector<int32_t> want = read_ids(model + "/expected_greedy_from_bos_200_tokens.ids");
  di_engine* e = make_kv_engine(model, "fp8", 2, 256, 16);
  if (e == nullptr || want.size() != 201u) return;
  const std::vector<int32_t> prompt(want.begin(), want.end() - 1);
  const auto rows = decode_logits(e, prompt, 512, 16);
  int agree = 0;
  for (size_t p = 0; p < rows.size(); ++p) {
    const auto& r = rows[p];
    agree += static_cast<int>(std::max_element(r.begin(), r.end()) - r.begin()) == want[p + 1];
  }
  std::printf("  teacher-forced argmax equal to the golden's next id at %d of %zu positions\n", agree, rows.size());
  // Measured: 195 of 200 (AVX2); the bound leaves room for other instruction sets.
  CHECK_MSG(agree >= 190, "%d of 200", agree);
  di_engine_free(e);
}

// K/V read through the dequantised-context scratch (rows of a sequence with several rows in
// the step) and in place (attn_scores_e4m3 / attn_accum_e4m3: one-row sequences, and contexts
// longer than the scratch) give the same bits, so a sequence's logits depend neither on how its
// prompt was chunked, nor on the rest of the batch, nor on the thread count.
TEST(fp8_kv_is_batch_thread_chunk_and_read_path_invariant) {
  const std::string model = models_dir() + "/stories260k";  // head_dim 8: read in place
  const std::vector<int32_t> a = {1, 400, 21, 9, 77, 300, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};
  const std::vector<int32_t> b2 = {1, 33, 44, 55, 66, 77, 88, 99};
  // Logits of a's last row, its prompt fed `chunk` rows per step (chunks of several rows use the
  // scratch unless it holds one key; single rows read in place), b2's 8-row prompt beside the
  // first step.
  auto last_logits = [&](di_engine* e, bool with_other, int chunk) {
    Seq s, o;
    s.prompt = a;
    o.prompt = b2;
    for (int i = 0; i < 4; ++i) s.blocks.push_back(i);
    for (int i = 0; i < 4; ++i) o.blocks.push_back(10 + i);
    std::vector<float> lg(static_cast<size_t>(512) * 2);
    std::vector<di_seq_output> outs;
    std::vector<int32_t> all = s.prompt;
    while (s.computed < static_cast<int>(all.size())) {
      const int take = std::min(chunk, static_cast<int>(all.size()) - s.computed);
      std::vector<di_step_seq> items{step_item(s, take, all)};
      if (with_other && o.computed == 0) items.push_back(step_item(o, static_cast<int>(o.prompt.size()), o.prompt));
      run_step(e, items, &outs, lg.data());
      s.computed += take;
      if (with_other && o.computed == 0) o.computed = static_cast<int>(o.prompt.size());
    }
    return std::vector<float>(lg.begin(), lg.begin() + 512);
  };
  di_engine* one = make_kv_engine(model, "fp8", 1, 64, 16);
  di_engine* two = make_kv_engine(model, "fp8", 2, 64, 16);
  setenv("DEEPINFER_DEV_CPU_KV_DEQ_KEYS", "1", 1);  // scratch of one block: every context is longer
  di_engine* no_scratch = make_kv_engine(model, "fp8", 2, 64, 16);
  unsetenv("DEEPINFER_DEV_CPU_KV_DEQ_KEYS");
  setenv("DEEPINFER_DEV_CPU_SERIAL_MACS", "0", 1);  // every step multi-threaded
  di_engine* threaded = make_kv_engine(model, "fp8", 2, 64, 16);
  unsetenv("DEEPINFER_DEV_CPU_SERIAL_MACS");
  if (one == nullptr || two == nullptr || no_scratch == nullptr || threaded == nullptr) return;
  const std::vector<float> ref = last_logits(one, false, 10);
  CHECK(last_logits(two, true, 10) == ref);
  CHECK(last_logits(no_scratch, true, 10) == ref);
  CHECK(last_logits(threaded, true, 10) == ref);
  CHECK(last_logits(threaded, false, 10) == ref);
  // One row per step: every row of a reads K/V in place.
  CHECK(last_logits(one, false, 1) == ref);
  CHECK(last_logits(two, true, 1) == ref);
  CHECK(last_logits(threaded, true, 1) == ref);
  // A 23-row prefill through the scratch, then the last row in place.
  CHECK(last_logits(threaded, true, 23) == ref);
  for (di_engine* e : {one, two, no_scratch, threaded}) di_engine_free(e);
}

// head_dim 12 (llama_fp8_block): the vector kernels cannot read such rows in place, so decode
// rows dequantise into the scratch, or block by block when the context is longer than the
// scratch; both give the same bits.
TEST(fp8_kv_head_dim_not_a_multiple_of_8_is_scratch_invariant) {
  const std::string dir = fixtures_dir() + "/llama_fp8_block";
  const std::vector<int32_t> prompt = {1, 17, 42, 5, 99, 23, 7, 64, 3, 11};
  di_engine* whole = make_kv_engine(dir, "fp8", 2, 64, 4);
  setenv("DEEPINFER_DEV_CPU_KV_DEQ_KEYS", "1", 1);  // a scratch of one block (4 keys)
  di_engine* blockwise = make_kv_engine(dir, "fp8", 2, 64, 4);
  unsetenv("DEEPINFER_DEV_CPU_KV_DEQ_KEYS");
  if (whole == nullptr || blockwise == nullptr) return;
  di_engine_info info;
  di_engine_get_info(whole, &info);
  std::vector<int32_t> p;
  for (int32_t t : prompt) p.push_back(t % info.vocab_size);
  const auto a = decode_logits(whole, p, info.vocab_size, 4), b = decode_logits(blockwise, p, info.vocab_size, 4);
  CHECK_EQ(a.size(), p.size());
  CHECK(a == b);
  di_engine_free(whole);
  di_engine_free(blockwise);
}

TEST(fp8_kv_blocks_are_a_quarter_of_f32_plus_one_exponent_per_head) {
  const std::string model = models_dir() + "/stories260k";  // 5 layers, 4 kv heads, head_dim 8
  di_engine* e = make_kv_engine(model, "fp8", 1, 64, 16);
  if (e == nullptr) return;
  di_engine_info info;
  di_engine_get_info(e, &info);
  CHECK_EQ(info.kv_block_bytes, 2ll * 5 * 16 * 4 * (8 * 1 + 1));
  CHECK(std::string(info.kv_cache_dtype) == "float8_e4m3");
  di_engine_free(e);
  di_engine* f = make_kv_engine(model, "auto", 1, 64, 16);
  if (f == nullptr) return;
  di_engine_get_info(f, &info);
  CHECK_EQ(info.kv_block_bytes, 2ll * 5 * 16 * 4 * 8 * 4);
  di_engine_free(f);
  // The probe (the CPU memory plan's block size) agrees with the engine for each type.
  di_model_probe_info p;
  char err[512];
  CHECK_EQ(di_model_probe(model.c_str(), DI_BACKEND_CPU, 16, "fp8", &p, err, sizeof(err)), 0);
  CHECK_EQ(p.kv_block_bytes, 2ll * 5 * 16 * 4 * (8 * 1 + 1));
  CHECK_EQ(di_model_probe(model.c_str(), DI_BACKEND_CPU, 16, nullptr, &p, err, sizeof(err)), 0);
  CHECK_EQ(p.kv_block_bytes, 2ll * 5 * 16 * 4 * 8 * 4);
}

TEST(unknown_kv_cache_dtype_names_the_choices) {
  di_engine_config c;
  di_engine_config_init(&c);
  const std::string model = models_dir() + "/stories260k";
  c.model = model.c_str();
  c.num_kv_blocks = 4;
  c.kv_cache_dtype = "int4";
  std::string err;
  di_engine* e = create_engine(c, &err);
  CHECK(e == nullptr);
  CHECK_MSG(err.find("kv_cache_dtype") != std::string::npos && err.find("fp8") != std::string::npos, "%s", err.c_str());
  if (e != nullptr) di_engine_free(e);
}

TEST_MAIN()
