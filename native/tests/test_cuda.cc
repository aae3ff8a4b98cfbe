// The CUDA backend on a GPU (skipped, exit code 77, where none is usable): logits against the
// CPU backend on every fixture model (prefill, and decode through a scrambled block table),
// the stories260k golden greedy story, chunked prefill, shared prefix blocks, batch
// invariance within tolerance, seeded sampling and the device sampler against the host
// sampler on the same logits, engine info and the memory plan.
//
// Tolerances (relative to max(1, max |cpu logit| of the row)): f32 models 1e-4 (the CUDA
// path sums in other orders); f16/bf16 models 3e-2 (the CUDA path rounds GEMM inputs and the
// K/V cache to the 16-bit type, the CPU path keeps f32 activations).
#include <algorithm>
#include <random>

#include "core/sampling.h"
#include "test_util.h"

using namespace ditest;

namespace {

di_engine* make(const std::string& model, int backend, int num_blocks = 256, int bs = 16, int max_tokens = 512,
                uint64_t seed = 0, int cuda_graphs = 1) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = model.c_str();
  c.cuda_graphs = cuda_graphs;
  c.backend = backend;
  c.num_threads = 2;
  c.num_kv_blocks = num_blocks;
  c.block_size = bs;
  c.max_num_batched_tokens = max_tokens;
  c.seed = seed;
  char err[1024];
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  CHECK_MSG(e != nullptr, "create %s (backend %d): %s", model.c_str(), backend, err);
  return e;
}

double rel_err(const float* a, const float* ref, int V) {
  double scale = 1.0, err = 0.0;
  for (int i = 0; i < V; ++i) scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  for (int i = 0; i < V; ++i) err = std::max(err, std::fabs(static_cast<double>(a[i]) - ref[i]));
  return err / scale;
}

// Logits of the last position after prefilling `prompt` in one step, then of every position
// decoded one token per step through a scrambled block table.
void logits_trace(di_engine* e, const std::vector<int32_t>& prompt, int V, int bs, std::vector<float>* prefill,
                  std::vector<std::vector<float>>* decode) {
  const int P = static_cast<int>(prompt.size());
  Seq s;
  s.prompt = prompt;
  for (int i = 0; i < (P + bs - 1) / bs; ++i) s.blocks.push_back(i);
  prefill->assign(static_cast<size_t>(V), 0.f);
  std::vector<di_step_seq> items{step_item(s, P, s.prompt)};
  std::vector<di_seq_output> outs;
  run_step(e, items, &outs, prefill->data());
  Seq d;
  for (int i = 0; i < (P + bs - 1) / bs; ++i) d.blocks.push_back(63 - 2 * i);
  decode->clear();
  for (int p = 0; p < P; ++p) {
    std::vector<int32_t> upto(prompt.begin(), prompt.begin() + p + 1);
    Seq view = d;
    view.prompt = upto;
    view.computed = p;
    std::vector<di_step_seq> it{step_item(view, 1, upto)};
    std::vector<float> lg(static_cast<size_t>(V));
    run_step(e, it, &outs, lg.data());
    decode->push_back(lg);
  }
}

void compare_fixture(const std::string& name) {
  const std::string dir = fixtures_dir() + "/" + name;
  const int bs = 4;
  di_engine* cpu = make(dir, DI_BACKEND_CPU, 64, bs);
  di_engine* gpu = make(dir, DI_BACKEND_CUDA, 64, bs);
  if (cpu == nullptr || gpu == nullptr) return;
  di_engine_info info;
  di_engine_get_info(gpu, &info);
  const int V = info.vocab_size;
  const bool f32 = std::string(info.weight_dtype) == "F32";
  const double tol = f32 ? 1e-4 : 3e-2;
  std::vector<int32_t> prompt;
  std::mt19937 g(11);
  for (int i = 0; i < 37; ++i) prompt.push_back(static_cast<int32_t>(g() % static_cast<unsigned>(V)));
  std::vector<float> pc, pg;
  std::vector<std::vector<float>> dc, dg;
  logits_trace(cpu, prompt, V, bs, &pc, &dc);
  logits_trace(gpu, prompt, V, bs, &pg, &dg);
  const double ep = rel_err(pg.data(), pc.data(), V);
  double ed = 0.0;
  for (size_t i = 0; i < dc.size(); ++i) ed = std::max(ed, rel_err(dg[i].data(), dc[i].data(), V));
  std::printf("  %-22s %s: prefill err %.2e, decode err %.2e (tolerance %.0e)\n", name.c_str(), info.weight_dtype, ep, ed,
              tol);
  CHECK_MSG(ep <= tol, "%s prefill error %.3g", name.c_str(), ep);
  CHECK_MSG(ed <= tol, "%s decode error %.3g", name.c_str(), ed);
  di_engine_free(cpu);
  di_engine_free(gpu);
}

std::string stories() { return models_dir() + "/stories260k"; }

}  // namespace

TEST(cuda_logits_match_cpu_on_fixtures) {
  for (const char* n : {"llama_gqa1", "llama_gqa2_tied", "llama_gqa8", "qwen2_bias", "qwen3_qknorm_hd16",
                        "llama3_rope_scaling", "llama_bf16", "mistral_f16", "llama_sharded"}) {
    compare_fixture(n);
  }
}

TEST(fp8_checkpoints_are_refused_until_the_cuda_backend_runs_them) {
  // The CPU backend runs them (test_reference_logits); CUDA must say so rather than widen them.
  unsetenv("DEEPINFER_DEV_CUDA_FP8");
  di_engine_config c;
  di_engine_config_init(&c);
  const std::string model = fixtures_dir() + "/llama_fp8_channel";
  c.model = model.c_str();
  c.backend = DI_BACKEND_CUDA;
  c.num_kv_blocks = 16;
  char err[1024] = {0};
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  CHECK(e == nullptr);
  if (e != nullptr) di_engine_free(e);
  CHECK_MSG(std::strstr(err, "not supported by the cuda backend") != nullptr, "%s", err);
}

namespace {

// Runs `body` with the CUDA backend's FP8 paths enabled (DEEPINFER_DEV_CUDA_FP8=1: fp8.cu's
// kernels, refused in production until this file's fp8 cases have passed on a GPU).
template <class F>
void with_cuda_fp8(F&& body) {
  setenv("DEEPINFER_DEV_CUDA_FP8", "1", 1);
  body();
  unsetenv("DEEPINFER_DEV_CUDA_FP8");
}

di_engine* make_kv(const std::string& model, int backend, const char* kv, int bs) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = model.c_str();
  c.backend = backend;
  c.num_threads = 2;
  c.num_kv_blocks = 64;
  c.block_size = bs;
  c.max_num_batched_tokens = 512;
  c.kv_cache_dtype = kv;
  std::string err;
  di_engine* e = create_engine(c, &err);
  CHECK_MSG(e != nullptr, "create %s (backend %d, kv %s): %s", model.c_str(), backend, kv, err.c_str());
  return e;
}

}  // namespace

// FP8 checkpoints through fp8.cu's GEMV against the CPU backend (same E4M3 bytes and scales;
// the CUDA path rounds activations to the served bf16, hence the 16-bit tolerance).
TEST(fp8_checkpoints_on_cuda_match_cpu_when_enabled) {
  with_cuda_fp8([] {
    for (const char* n : {"llama_fp8_channel", "llama_fp8_tensor", "llama_fp8_block"}) compare_fixture(n);
  });
}

// The fp8 KV cache on CUDA (kv_write_fp8 + fp8 attention) against the CPU's fp8 KV cache.
// Both quantise with core/kv_fp8.h's rule, but from K/V that differ by f32 rounding, so a value
// near an E4M3 rounding boundary can land one step apart: the bound is twice the CPU's own
// fp8-vs-f32 error on the same trace (measured in this run), at least 1e-3.
TEST(fp8_kv_cache_on_cuda_matches_cpu_fp8_kv_when_enabled) {
  with_cuda_fp8([] {
    for (const std::string& m : {stories(), fixtures_dir() + "/llama_gqa8", fixtures_dir() + "/qwen3_qknorm_hd16"}) {
      const int bs = 4;
      di_engine* c32 = make_kv(m, DI_BACKEND_CPU, "float32", bs);
      di_engine* c8 = make_kv(m, DI_BACKEND_CPU, "fp8", bs);
      di_engine* g8 = make_kv(m, DI_BACKEND_CUDA, "fp8", bs);
      if (c32 == nullptr || c8 == nullptr || g8 == nullptr) return;
      di_engine_info ic, ig;
      di_engine_get_info(c8, &ic);
      di_engine_get_info(g8, &ig);
      CHECK(std::string(ig.kv_cache_dtype) == "float8_e4m3");
      CHECK_EQ(ig.kv_block_bytes, ic.kv_block_bytes);
      const int V = ig.vocab_size;
      std::vector<int32_t> prompt;
      std::mt19937 g(5);
      for (int i = 0; i < 41; ++i) prompt.push_back(static_cast<int32_t>(g() % static_cast<unsigned>(V)));
      std::vector<float> p32, p8, pg;
      std::vector<std::vector<float>> d32, d8, dg;
      logits_trace(c32, prompt, V, bs, &p32, &d32);
      logits_trace(c8, prompt, V, bs, &p8, &d8);
      logits_trace(g8, prompt, V, bs, &pg, &dg);
      double cpu_err = rel_err(p8.data(), p32.data(), V), gpu_err = rel_err(pg.data(), p8.data(), V);
      for (size_t i = 0; i < d8.size(); ++i) {
        cpu_err = std::max(cpu_err, rel_err(d8[i].data(), d32[i].data(), V));
        gpu_err = std::max(gpu_err, rel_err(dg[i].data(), d8[i].data(), V));
      }
      const double tol = std::max(1e-3, 2.0 * cpu_err);
      std::printf("  %-40s fp8 KV: CUDA vs CPU %.2e (CPU fp8 vs f32 %.2e, tolerance %.2e)\n", m.c_str(), gpu_err,
                  cpu_err, tol);
      CHECK_MSG(gpu_err <= tol, "%s: %.3g", m.c_str(), gpu_err);
      di_engine_free(c32);
      di_engine_free(c8);
      di_engine_free(g8);
    }
    // Teacher-forced greedy on stories260k with fp8 K/V on the card: the CPU's measured 195 of
    // 200 (test_kv_fp8); at least 190 here too.
    di_engine* g8 = make_kv(stories(), DI_BACKEND_CUDA, "fp8", 16);
    const std::vector<int32_t> want = read_ids(stories() + "/expected_greedy_from_bos_200_tokens.ids");
    if (g8 == nullptr || want.size() != 201u) return;
    std::vector<float> pre;
    std::vector<std::vector<float>> dec;
    logits_trace(g8, std::vector<int32_t>(want.begin(), want.end() - 1), 512, 16, &pre, &dec);
    int agree = 0;
    for (size_t p = 0; p < dec.size(); ++p) {
      agree += static_cast<int>(std::max_element(dec[p].begin(), dec[p].end()) - dec[p].begin()) == want[p + 1];
    }
    std::printf("  stories260k fp8 KV on CUDA: teacher-forced argmax equal to the golden at %d of %zu\n", agree,
                dec.size());
    CHECK(agree >= 190);
    di_engine_free(g8);
  });
}

TEST(fp8_kv_cache_is_refused_on_cuda_until_validated) {
  unsetenv("DEEPINFER_DEV_CUDA_FP8");
  std::string err;
  di_engine_config c;
  di_engine_config_init(&c);
  const std::string m = stories();
  c.model = m.c_str();
  c.backend = DI_BACKEND_CUDA;
  c.num_kv_blocks = 16;
  c.kv_cache_dtype = "fp8";
  di_engine* e = create_engine(c, &err);
  CHECK(e == nullptr);
  if (e != nullptr) di_engine_free(e);
  CHECK_MSG(err.find("not validated on a GPU yet") != std::string::npos, "%s", err.c_str());
}

TEST(stories260k_golden_greedy_on_cuda) {
  std::vector<int32_t> want = read_ids(stories() + "/expected_greedy_from_bos_200_tokens.ids");
  di_engine* e = make(stories(), DI_BACKEND_CUDA);
  if (e == nullptr) return;
  std::vector<int32_t> got = generate(e, {1}, 200);
  got.insert(got.begin(), 1);
  CHECK(got == want);
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (got[i] != want[i]) {
      std::printf("  first difference at %zu: got %d want %d\n", i, got[i], want[i]);
      break;
    }
  }
  // Prefill of 5 tokens in one step and in chunks of 2 continue the golden too.
  std::vector<int32_t> prompt(want.begin(), want.begin() + 5), rest(want.begin() + 5, want.begin() + 45);
  CHECK(generate(e, prompt, 40) == rest);
  CHECK(generate(e, prompt, 40, 2) == rest);
  di_engine_free(e);
}

TEST(batch_chunking_and_shared_prefix_within_tolerance) {
  di_engine* e = make(stories(), DI_BACKEND_CUDA, 256, 16, 256);
  if (e == nullptr) return;
  const int V = 512;
  std::vector<int32_t> ids = read_ids(stories() + "/expected_greedy_from_bos_200_tokens.ids");
  const std::vector<int32_t> prompt(ids.begin(), ids.begin() + 23);
  // Alone, whole prompt.
  std::vector<int32_t> alone = generate(e, prompt, 30, 0, 0);
  // Chunks of 7, other blocks.
  CHECK(generate(e, prompt, 30, 7, 40) == alone);
  // Inside a batch of 12 sequences with other prompts, started together.
  std::mt19937 g(3);
  std::vector<Seq> seqs(12);
  for (int i = 0; i < 12; ++i) {
    Seq& s = seqs[static_cast<size_t>(i)];
    if (i == 4) {
      s.prompt = prompt;
    } else {
      s.prompt.push_back(1);
      for (int j = 0; j < 5 + i; ++j) s.prompt.push_back(static_cast<int32_t>(3 + g() % 500));
    }
    for (int b = 0; b < 5; ++b) s.blocks.push_back(80 + i * 5 + b);
  }
  for (int step = 0; step < 40; ++step) {
    std::vector<std::vector<int32_t>> alls(seqs.size());
    std::vector<di_step_seq> items;
    std::vector<int> took;
    for (size_t i = 0; i < seqs.size(); ++i) {
      alls[i] = seqs[i].all();
      const int n = static_cast<int>(alls[i].size()) - seqs[i].computed;
      items.push_back(step_item(seqs[i], n, alls[i]));
      took.push_back(n);
    }
    std::vector<di_seq_output> outs;
    if (!run_step(e, items, &outs)) break;
    for (size_t i = 0; i < seqs.size(); ++i) {
      seqs[i].computed += took[i];
      if (outs[i].sampled && seqs[i].output.size() < 30) seqs[i].output.push_back(outs[i].token_id);
    }
    if (seqs[4].output.size() >= 30) break;
  }
  CHECK(seqs[4].output == alone);
  // Shared prefix blocks vs private copies: logits within 1e-4.
  std::vector<int32_t> prefix(ids.begin(), ids.begin() + 32), p1 = prefix;
  for (int32_t t : {300, 301, 302}) p1.push_back(t);
  std::vector<float> priv(V), shared(V);
  {
    Seq a;
    a.prompt = p1;
    a.blocks = {200, 201, 202};
    std::vector<di_step_seq> it{step_item(a, static_cast<int>(p1.size()), p1)};
    std::vector<di_seq_output> outs;
    run_step(e, it, &outs, priv.data());
  }
  {
    Seq pre;
    pre.prompt = prefix;
    pre.blocks = {210, 211};
    std::vector<di_step_seq> it{step_item(pre, 32, prefix)};
    it[0].sample = 0;
    std::vector<di_seq_output> outs;
    run_step(e, it, &outs);
    Seq a;
    a.prompt = p1;
    a.blocks = {210, 211, 212};
    a.computed = 32;
    std::vector<di_step_seq> tail{step_item(a, 3, p1)};
    run_step(e, tail, &outs, shared.data());
  }
  const double err = rel_err(shared.data(), priv.data(), V);
  CHECK_MSG(err <= 1e-4, "shared-prefix logits differ by %.3g", err);
  di_engine_free(e);
}

TEST(device_sampler_matches_host_sampler_on_the_same_logits) {
  di_engine* e = make(stories(), DI_BACKEND_CUDA);
  if (e == nullptr) return;
  const int V = 512;
  deepinfer::Sampler host(V);
  std::vector<int32_t> prompt{1, 403, 407, 261, 378, 10, 45}, outputs{10, 45, 10};
  int mismatches = 0, total = 0;
  // Guided decoding (variants 8-10): a sparse allowed set (every 7th id and a few others).
  std::vector<uint32_t> mask((V + 31) / 32, 0u);
  auto allowed = [&](int id) { return ((mask[static_cast<size_t>(id) >> 5] >> (id & 31)) & 1u) != 0; };
  for (int id = 3; id < V; id += 7) mask[static_cast<size_t>(id) >> 5] |= 1u << (id & 31);
  for (int id : {10, 45, 403}) mask[static_cast<size_t>(id) >> 5] |= 1u << (id & 31);
  for (int variant = 0; variant < 11; ++variant) {
    for (uint64_t seed = 1; seed <= 12; ++seed) {
      di_sampling_params sp;
      di_sampling_params_init(&sp);
      sp.temperature = variant == 0 ? 0.f : 0.7f + 0.1f * variant;
      sp.has_seed = 1;
      sp.seed = seed * 7919;
      sp.num_logprobs = 5;
      if (variant == 2) sp.top_k = 20;
      if (variant == 3) sp.top_p = 0.8f;
      if (variant == 4) sp.min_p = 0.05f;
      if (variant == 5) {
        sp.top_k = 50;
        sp.top_p = 0.9f;
        sp.min_p = 0.01f;
      }
      int32_t bias_ids[2] = {13, 29};
      float bias_vals[2] = {2.5f, -100.f};
      if (variant == 6) {
        sp.repetition_penalty = 1.3f;
        sp.frequency_penalty = 0.4f;
        sp.presence_penalty = 0.2f;
        sp.logit_bias_ids = bias_ids;
        sp.logit_bias_values = bias_vals;
        sp.num_logit_bias = 2;
      }
      if (variant == 7) sp.num_logprobs = 20;
      if (variant >= 8) sp.allowed_token_mask = mask.data();
      if (variant == 8) sp.temperature = 0.f;
      if (variant == 9) {
        sp.temperature = 1.2f;
        sp.top_k = 30;
        sp.top_p = 0.95f;
      }
      if (variant == 10) sp.temperature = 1.0f;  // candidates in id order
      Seq s;
      s.prompt = prompt;
      s.output = outputs;
      s.sp = sp;
      s.blocks = {0};
      std::vector<int32_t> all = s.all();
      std::vector<di_step_seq> it{step_item(s, static_cast<int>(all.size()), all)};
      std::vector<di_seq_output> outs;
      std::vector<float> lg(V);
      if (!run_step(e, it, &outs, lg.data())) break;
      deepinfer::SampleRequest req;
      req.logits = lg.data();
      req.params = &sp;
      req.prompt_ids = prompt.data();
      req.num_prompt_ids = static_cast<int32_t>(prompt.size());
      req.output_ids = outputs.data();
      req.num_output_ids = static_cast<int32_t>(outputs.size());
      req.position = static_cast<int64_t>(all.size());
      di_seq_output ref;
      host.sample(req, &ref);
      ++total;
      if (ref.token_id != outs[0].token_id) ++mismatches;
      if (variant >= 8) {
        CHECK(allowed(ref.token_id));
        CHECK(allowed(outs[0].token_id));
      }
      CHECK(std::fabs(ref.logprob - outs[0].logprob) < 1e-4f);
      CHECK_EQ(ref.rank, outs[0].rank);
      CHECK_EQ(ref.num_top, outs[0].num_top);
      for (int i = 0; i < ref.num_top; ++i) {
        CHECK_EQ(ref.top_ids[i], outs[0].top_ids[i]);
        CHECK(std::fabs(ref.top_logprobs[i] - outs[0].top_logprobs[i]) < 1e-4f);
      }
    }
  }
  std::printf("  device vs host sampler: %d of %d draws differ\n", mismatches, total);
  CHECK_EQ(mismatches, 0);
  di_engine_free(e);
}

TEST(seeded_sampling_is_reproducible_and_matches_cpu_stream) {
  di_engine* gpu = make(stories(), DI_BACKEND_CUDA);
  di_engine* cpu = make(stories(), DI_BACKEND_CPU);
  if (gpu == nullptr || cpu == nullptr) return;
  di_sampling_params sp;
  di_sampling_params_init(&sp);
  sp.temperature = 0.9f;
  sp.top_p = 0.95f;
  sp.has_seed = 1;
  sp.seed = 1234;
  const std::vector<int32_t> prompt{1, 403, 407};
  std::vector<int32_t> g1 = generate(gpu, prompt, 40, 0, 0, 16, &sp);
  std::vector<int32_t> g2 = generate(gpu, prompt, 40, 0, 10, 16, &sp);
  std::vector<int32_t> c1 = generate(cpu, prompt, 40, 0, 0, 16, &sp);
  CHECK(g1 == g2);
  size_t same = 0;
  while (same < g1.size() && same < c1.size() && g1[same] == c1[same]) ++same;
  std::printf("  seeded: GPU and CPU agree on the first %zu of 40 tokens\n", same);
  CHECK(same >= 20);  // f32 model: logits agree to ~1e-6; a draw at a CDF boundary may differ later
  di_engine_free(gpu);
  di_engine_free(cpu);
}

// Decode steps replayed from CUDA graphs (padded to their bucket) against the same steps run
// eagerly (cuda_graphs = 0): batches of 1, 3 and 5 sequences (buckets 1, 4 and 8), a
// prefill step then 12 decode steps; same greedy tokens, logits within 1e-5 (cuBLAS may pick
// another kernel for the padded row count).
TEST(cuda_graph_decode_steps_match_eager_steps) {
  di_engine* graphs = make(stories(), DI_BACKEND_CUDA);
  di_engine* eager = make(stories(), DI_BACKEND_CUDA, 256, 16, 512, 0, /*cuda_graphs=*/0);
  if (graphs == nullptr || eager == nullptr) return;
  const int V = 512;
  auto trace = [&](di_engine* e, int n, std::vector<int32_t>* tokens) {
    std::vector<Seq> seqs(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      seqs[static_cast<size_t>(i)].prompt = {1, 10 + i, 20 + 3 * i};
      for (int b = 0; b < 2; ++b) seqs[static_cast<size_t>(i)].blocks.push_back(100 + 2 * i + b);
    }
    std::vector<float> all_logits;
    for (int step = 0; step < 13; ++step) {
      std::vector<std::vector<int32_t>> alls(seqs.size());
      std::vector<di_step_seq> items;
      for (size_t i = 0; i < seqs.size(); ++i) {
        alls[i] = seqs[i].all();
        items.push_back(step_item(seqs[i], static_cast<int>(alls[i].size()) - seqs[i].computed, alls[i]));
      }
      std::vector<di_seq_output> outs;
      std::vector<float> lg(static_cast<size_t>(n) * V);
      if (!run_step(e, items, &outs, lg.data())) break;
      for (size_t i = 0; i < seqs.size(); ++i) {
        seqs[i].computed = static_cast<int32_t>(alls[i].size());
        seqs[i].output.push_back(outs[i].token_id);
        tokens->push_back(outs[i].token_id);
      }
      all_logits.insert(all_logits.end(), lg.begin(), lg.end());
    }
    return all_logits;
  };
  for (int n : {1, 3, 5}) {
    std::vector<int32_t> tg, te;
    const std::vector<float> lg = trace(graphs, n, &tg), le = trace(eager, n, &te);
    double err = 0.0;
    for (size_t r = 0; r + V <= lg.size() && lg.size() == le.size(); r += V) {
      err = std::max(err, rel_err(lg.data() + r, le.data() + r, V));
    }
    std::printf("  %d sequences: graph vs eager logits max error %.2e, tokens %s\n", n, err,
                tg == te ? "equal" : "DIFFER");
    CHECK(lg.size() == le.size());
    CHECK(tg == te);
    CHECK_MSG(err <= 1e-5, "graph vs eager error %.3g at batch %d", err, n);
  }
  // The replays really were graphs: one capture per bucket (1, 4, 8); none in the eager engine.
  di_engine_info gi, ei;
  di_engine_get_info(graphs, &gi);
  di_engine_get_info(eager, &ei);
  std::printf("  %s; %d graphs captured\n", gi.backend_details, gi.cuda_graphs_captured);
  CHECK(std::strstr(gi.backend_details, "cuda graphs: on") != nullptr);
  CHECK_EQ(gi.cuda_graphs_captured, 3);
  CHECK(std::strstr(ei.backend_details, "cuda graphs: off") != nullptr);
  CHECK_EQ(ei.cuda_graphs_captured, 0);
  di_engine_free(graphs);
  di_engine_free(eager);
}

// The dtype setting on CUDA: matrices converted at upload, K/V stored in the served type (so a
// f32 checkpoint served as bf16 halves the block), and the CPU backend serving the same dtype
// (weights rounded to it) agrees within the 16-bit tolerance. A KV type other than the served
// one is refused before anything is allocated, naming the field.
TEST(served_dtype_converts_at_load_and_kv_follows_it) {
  auto create = [](const std::string& model, int backend, const char* dtype, const char* kv, std::string* error) {
    di_engine_config c;
    di_engine_config_init(&c);
    c.model = model.c_str();
    c.backend = backend;
    c.num_threads = 2;
    c.num_kv_blocks = 64;
    c.block_size = 4;
    c.dtype = dtype;
    c.kv_cache_dtype = kv;
    return create_engine(c, error);
  };
  std::string err;
  const std::string bf16 = fixtures_dir() + "/llama_bf16";
  di_engine* gpu = create(bf16, DI_BACKEND_CUDA, "float16", nullptr, &err);
  CHECK_MSG(gpu != nullptr, "%s", err.c_str());
  di_engine* cpu = create(bf16, DI_BACKEND_CPU, "float16", nullptr, &err);
  CHECK_MSG(cpu != nullptr, "%s", err.c_str());
  if (gpu == nullptr || cpu == nullptr) return;
  di_engine_info info;
  di_engine_get_info(gpu, &info);
  CHECK(std::string(info.dtype) == "float16");
  CHECK(std::string(info.kv_cache_dtype) == "float16");
  CHECK(std::string(info.weight_dtype) == "BF16");
  const int V = info.vocab_size;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 29; ++i) prompt.push_back((7 * i + 3) % V);
  std::vector<float> pc, pg;
  std::vector<std::vector<float>> dc, dg;
  logits_trace(cpu, prompt, V, 4, &pc, &dc);
  logits_trace(gpu, prompt, V, 4, &pg, &dg);
  double e = rel_err(pg.data(), pc.data(), V);
  for (size_t i = 0; i < dc.size(); ++i) e = std::max(e, rel_err(dg[i].data(), dc[i].data(), V));
  std::printf("  llama_bf16 served as float16: CUDA vs CPU max error %.2e (tolerance 3e-2)\n", e);
  CHECK(e <= 3e-2);
  di_engine_free(gpu);
  di_engine_free(cpu);

  di_engine* f32 = create(stories(), DI_BACKEND_CUDA, "float32", nullptr, &err);
  di_engine* narrowed = create(stories(), DI_BACKEND_CUDA, "bfloat16", "bfloat16", &err);
  CHECK_MSG(f32 != nullptr && narrowed != nullptr, "%s", err.c_str());
  if (f32 != nullptr && narrowed != nullptr) {
    di_engine_info a, b;
    di_engine_get_info(f32, &a);
    di_engine_get_info(narrowed, &b);
    CHECK(std::string(b.kv_cache_dtype) == "bfloat16");
    CHECK_EQ(a.kv_block_bytes, 2 * b.kv_block_bytes);
    CHECK(b.weight_bytes < a.weight_bytes);
  }
  di_engine_free(f32);
  di_engine_free(narrowed);

  CHECK(create(bf16, DI_BACKEND_CUDA, "float16", "float32", &err) == nullptr);
  CHECK_MSG(err.find("config.kv_cache_dtype: \"float32\" is not supported by the cuda backend with dtype float16") != std::string::npos,
            "%s", err.c_str());
}

TEST(info_and_memory_plan) {
  di_engine_config c;
  di_engine_config_init(&c);
  const std::string m = stories();
  c.model = m.c_str();
  c.backend = DI_BACKEND_AUTO;
  c.gpu_memory_utilization = 0.5f;
  char err[1024];
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  CHECK_MSG(e != nullptr, "%s", err);
  if (e == nullptr) return;
  di_engine_info info;
  di_engine_get_info(e, &info);
  std::printf("  backend %s on %s: %d KV blocks (%.1f MiB), weights %.2f MiB, free %.0f of %.0f MiB\n", info.backend,
              info.device_name, info.num_kv_blocks, info.kv_cache_bytes / 1048576.0, info.weight_bytes / 1048576.0,
              info.device_free_bytes / 1048576.0, info.device_total_bytes / 1048576.0);
  CHECK(std::string(info.backend) == "cuda");
  CHECK(info.device_name[0] != '\0');
  CHECK(info.num_kv_blocks > 1000);
  CHECK_EQ(info.kv_cache_bytes, info.kv_block_bytes * info.num_kv_blocks);
  CHECK(info.kv_cache_bytes + info.weight_bytes < static_cast<int64_t>(0.5 * info.device_total_bytes));
  di_engine_free(e);
}

int main(int argc, char** argv) {
  if (di_cuda_device_count() <= 0) {
    std::printf("SKIP: no usable CUDA device (or the CUDA backend is not linked)\n");
    return 77;
  }
  return ::ditest::run_all(argc, argv);
}
