// Sampling: seeded reproducibility (alone or batched), penalties, logit_bias, top-k/top-p/
// min-p, logprobs. Most checks drive the Sampler directly with hand-made logits; the seeded
// tests run the real stories260k model through the engine.
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "core/sampling.h"
#include "test_util.h"

using namespace ditest;
using deepinfer::SampleRequest;
using deepinfer::Sampler;

namespace {

di_sampling_params params() {
  di_sampling_params p;
  di_sampling_params_init(&p);
  return p;
}

di_seq_output sample(Sampler& s, const std::vector<float>& logits, const di_sampling_params& p, int64_t pos = 0,
                     const std::vector<int32_t>& prompt = {}, const std::vector<int32_t>& output = {}) {
  SampleRequest r;
  r.logits = logits.data();
  r.params = &p;
  r.prompt_ids = prompt.data();
  r.num_prompt_ids = static_cast<int32_t>(prompt.size());
  r.output_ids = output.data();
  r.num_output_ids = static_cast<int32_t>(output.size());
  r.position = pos;
  di_seq_output o;
  s.sample(r, &o);
  return o;
}

std::vector<float> logits_of_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}

std::string model() { return models_dir() + "/stories260k"; }

}  // namespace

TEST(greedy_picks_argmax_lowest_id_on_ties) {
  Sampler s(5);
  CHECK_EQ(sample(s, {0.f, 2.f, 1.f, 2.f, -1.f}, params()).token_id, 1);
}

TEST(logit_bias_is_applied) {
  Sampler s(5);
  auto p = params();
  int32_t id = 4;
  float bias = 10.f;
  p.logit_bias_ids = &id;
  p.logit_bias_values = &bias;
  p.num_logit_bias = 1;
  CHECK_EQ(sample(s, {0.f, 2.f, 1.f, 2.f, -1.f}, p).token_id, 4);
}

TEST(frequency_presence_and_repetition_penalties) {
  Sampler s(4);
  const std::vector<float> l = {1.0f, 2.5f, 2.0f, -1.0f};
  auto p = params();
  p.frequency_penalty = 0.4f;  // token 1 appeared twice in the output: 2.5 - 0.8 = 1.7 < 2.0
  CHECK_EQ(sample(s, l, p, 0, {}, {1, 1}).token_id, 2);
  CHECK_EQ(sample(s, l, p, 0, {}, {1}).token_id, 1);  // 2.1 > 2.0
  p = params();
  p.presence_penalty = 0.6f;  // once, whatever the count: 1.9 < 2.0
  CHECK_EQ(sample(s, l, p, 0, {}, {1, 1, 1}).token_id, 2);
  p.presence_penalty = 0.4f;  // 2.1 > 2.0
  CHECK_EQ(sample(s, l, p, 0, {}, {1, 1, 1}).token_id, 1);
  // Presence/frequency look at output tokens only, not the prompt.
  p.presence_penalty = 5.f;
  CHECK_EQ(sample(s, l, p, 0, {1}, {}).token_id, 1);
  // Repetition: prompt + output; positive logits divided, negative multiplied.
  p = params();
  p.repetition_penalty = 1.5f;  // 2.5 / 1.5 = 1.67 < 2.0
  CHECK_EQ(sample(s, l, p, 0, {1}, {}).token_id, 2);
  CHECK_EQ(sample(s, l, p, 0, {}, {1}).token_id, 2);
  p.repetition_penalty = 1.2f;  // 2.08 > 2.0
  CHECK_EQ(sample(s, l, p, 0, {1, 1, 1}, {1}).token_id, 1);  // applied once per distinct token
  // Negative logit made more negative: with everything else biased down, -1 * 3 < -2.5
  const std::vector<float> neg = {-2.5f, -9.f, -9.f, -1.0f};
  p.repetition_penalty = 3.f;
  CHECK_EQ(sample(s, neg, p, 0, {3}, {}).token_id, 0);
  // The sampler's scratch is clean between calls: no penalty without history.
  CHECK_EQ(sample(s, l, p).token_id, 1);
}

TEST(temperature_sampling_follows_the_distribution) {
  const std::vector<double> probs = {0.5, 0.25, 0.15, 0.1};
  Sampler s(4);
  auto p = params();
  p.temperature = 1.f;
  p.has_seed = 1;
  p.seed = 123;
  std::vector<int> counts(4, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) counts[static_cast<size_t>(sample(s, logits_of_probs(probs), p, i).token_id)]++;
  for (int t = 0; t < 4; ++t) {
    const double f = counts[static_cast<size_t>(t)] / static_cast<double>(n);
    CHECK_MSG(std::fabs(f - probs[static_cast<size_t>(t)]) < 0.015, "token %d frequency %.3f vs %.3f", t, f,
              probs[static_cast<size_t>(t)]);
  }
  // Temperature 0.5 sharpens: p ~ probs^2
  p.temperature = 0.5f;
  int top = 0;
  for (int i = 0; i < n; ++i) top += sample(s, logits_of_probs(probs), p, i).token_id == 0 ? 1 : 0;
  const double expect = 0.25 / (0.25 + 0.0625 + 0.0225 + 0.01);
  CHECK_MSG(std::fabs(top / static_cast<double>(n) - expect) < 0.015, "T=0.5 top freq %.3f vs %.3f", top / double(n), expect);
}

TEST(top_k_top_p_min_p_restrict_the_candidates) {
  const std::vector<double> probs = {0.05, 0.5, 0.15, 0.3};  // sorted: 1, 3, 2, 0
  Sampler s(4);
  auto run = [&](di_sampling_params p) {
    std::map<int, int> seen;
    for (int i = 0; i < 3000; ++i) seen[sample(s, logits_of_probs(probs), p, i).token_id]++;
    std::vector<int> ids;
    for (auto& kv : seen) ids.push_back(kv.first);
    return ids;
  };
  auto p = params();
  p.temperature = 1.f;
  p.has_seed = 1;
  p.seed = 9;
  CHECK(run(p) == std::vector<int>({0, 1, 2, 3}));
  auto k = p;
  k.top_k = 1;
  CHECK(run(k) == std::vector<int>({1}));
  k.top_k = 2;
  CHECK(run(k) == std::vector<int>({1, 3}));
  auto tp = p;
  tp.top_p = 0.7f;  // 0.5 + 0.3 reaches 0.7
  CHECK(run(tp) == std::vector<int>({1, 3}));
  tp.top_p = 0.5f;
  CHECK(run(tp) == std::vector<int>({1}));
  tp.top_p = 0.9f;
  CHECK(run(tp) == std::vector<int>({1, 2, 3}));
  auto mp = p;
  mp.min_p = 0.5f;  // keep p >= 0.25
  CHECK(run(mp) == std::vector<int>({1, 3}));
  mp.min_p = 0.2f;  // keep p >= 0.1
  CHECK(run(mp) == std::vector<int>({1, 2, 3}));
}

TEST(logprobs_are_raw_normalised_and_sorted) {
  const int V = 16;
  std::vector<float> l(V);
  for (int i = 0; i < V; ++i) l[static_cast<size_t>(i)] = std::sin(i * 1.7f) * 3.f;
  Sampler s(V);
  auto p = params();
  p.num_logprobs = V;
  int32_t id = 0;
  float bias = 50.f;  // forces token 0, but logprobs stay the raw model's
  p.logit_bias_ids = &id;
  p.logit_bias_values = &bias;
  p.num_logit_bias = 1;
  di_seq_output o = sample(s, l, p);
  CHECK_EQ(o.token_id, 0);
  CHECK_EQ(o.num_top, V);
  double sum = 0;
  for (int i = 0; i < o.num_top; ++i) {
    sum += std::exp(static_cast<double>(o.top_logprobs[i]));
    if (i > 0) CHECK(o.top_logprobs[i] <= o.top_logprobs[i - 1]);
  }
  CHECK_MSG(std::fabs(sum - 1.0) < 1e-5, "sum of probabilities %.8f", sum);
  // sampled token: its raw logprob and rank
  int rank = 1;
  for (int i = 0; i < V; ++i) rank += l[static_cast<size_t>(i)] > l[0] ? 1 : 0;
  CHECK_EQ(o.rank, rank);
  for (int i = 0; i < V; ++i) {
    if (o.top_ids[i] == 0) CHECK(o.top_logprobs[i] == o.logprob);
  }
  p.num_logprobs = 3;
  o = sample(s, l, p);
  CHECK_EQ(o.num_top, 3);
  p.num_logprobs = -1;
  o = sample(s, l, p);
  CHECK_EQ(o.num_top, 0);
}

TEST(engine_logprobs_match_the_returned_logits) {
  di_engine* e = make_engine(model(), 2, 16);
  if (e == nullptr) return;
  Seq s;
  s.prompt = {1, 403, 407, 261, 378};
  s.blocks = {0};
  s.sp.num_logprobs = 20;
  s.sp.temperature = 0.8f;
  s.sp.has_seed = 1;
  s.sp.seed = 5;
  std::vector<float> logits(512);
  std::vector<di_step_seq> items{step_item(s, 5, s.prompt)};
  std::vector<di_seq_output> outs;
  run_step(e, items, &outs, logits.data());
  double mx = *std::max_element(logits.begin(), logits.end()), z = 0;
  for (float x : logits) z += std::exp(x - mx);
  const double lse = mx + std::log(z);
  CHECK(std::fabs(outs[0].logprob - (logits[static_cast<size_t>(outs[0].token_id)] - lse)) < 1e-4);
  CHECK_EQ(outs[0].num_top, 20);
  for (int i = 0; i < 20; ++i) {
    CHECK(std::fabs(outs[0].top_logprobs[i] - (logits[static_cast<size_t>(outs[0].top_ids[i])] - lse)) < 1e-4);
    if (i > 0) CHECK(outs[0].top_logprobs[i] <= outs[0].top_logprobs[i - 1]);
  }
  di_engine_free(e);
}

TEST(seeded_sampling_is_reproducible_alone_or_batched) {
  di_engine* e = make_engine(model(), 2, 128, 16, 256, /*seed=*/1);
  if (e == nullptr) return;
  auto sp = params();
  sp.temperature = 1.0f;
  sp.top_p = 0.95f;
  sp.has_seed = 1;
  sp.seed = 42;
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
  const int n = 40;
  std::vector<int32_t> a = generate(e, prompt, n, 0, 0, 16, &sp);
  std::vector<int32_t> a2 = generate(e, prompt, n, 0, 10, 16, &sp);
  CHECK(a == a2);
  // Batched: with an unseeded and a differently seeded neighbour, decoding in lock step.
  std::vector<Seq> seqs(3);
  for (int i = 0; i < 3; ++i) {
    seqs[static_cast<size_t>(i)].prompt = prompt;
    for (int b = 0; b < 3; ++b) seqs[static_cast<size_t>(i)].blocks.push_back(20 + i * 3 + b);
    seqs[static_cast<size_t>(i)].sp = sp;
  }
  seqs[1].sp.has_seed = 0;
  seqs[2].sp.seed = 43;
  while (seqs[0].output.size() < static_cast<size_t>(n)) {
    std::vector<std::vector<int32_t>> alls;
    for (auto& s : seqs) alls.push_back(s.all());
    std::vector<di_step_seq> items;
    for (size_t i = 0; i < seqs.size(); ++i) {
      items.push_back(step_item(seqs[i], static_cast<int>(alls[i].size()) - seqs[i].computed, alls[i]));
    }
    std::vector<di_seq_output> outs;
    if (!run_step(e, items, &outs)) break;
    for (size_t i = 0; i < seqs.size(); ++i) {
      seqs[i].computed = static_cast<int32_t>(alls[i].size());
      seqs[i].output.push_back(outs[i].token_id);
    }
  }
  CHECK(seqs[0].output == a);
  CHECK(seqs[2].output != a);  // a different seed gives a different story
  di_engine_free(e);
}

TEST(unseeded_sampling_follows_the_engine_seed) {
  auto sp = params();
  sp.temperature = 1.0f;
  const std::vector<int32_t> prompt = {1};
  di_engine* e1 = make_engine(model(), 1, 8, 16, 64, 7);
  di_engine* e2 = make_engine(model(), 1, 8, 16, 64, 7);
  di_engine* e3 = make_engine(model(), 1, 8, 16, 64, 8);
  if (e1 == nullptr || e2 == nullptr || e3 == nullptr) return;
  auto a = generate(e1, prompt, 30, 0, 0, 16, &sp);
  CHECK(a == generate(e2, prompt, 30, 0, 0, 16, &sp));
  CHECK(a != generate(e3, prompt, 30, 0, 0, 16, &sp));
  di_engine_free(e1);
  di_engine_free(e2);
  di_engine_free(e3);
}

namespace {
std::vector<uint32_t> mask_of(int V, const std::vector<int>& ids) {
  std::vector<uint32_t> m((static_cast<size_t>(V) + 31) / 32, 0u);
  for (int id : ids) m[static_cast<size_t>(id) >> 5] |= 1u << (id & 31);
  return m;
}
}  // namespace

TEST(guided_mask_restricts_greedy_and_random_sampling) {
  // 40 ids (two mask words); the model strongly prefers id 1, the mask allows 5, 33 and 39.
  const int V = 40;
  Sampler s(V);
  std::vector<float> l(V, 0.f);
  l[1] = 20.f;
  l[33] = 2.f;
  l[39] = 1.f;
  const auto m = mask_of(V, {5, 33, 39});
  auto p = params();
  p.allowed_token_mask = m.data();
  CHECK_EQ(sample(s, l, p).token_id, 33);  // greedy: the best allowed id
  p.num_logprobs = 0;
  const auto g = sample(s, l, p);
  CHECK_EQ(g.rank, 2);  // logprobs and rank stay those of the raw distribution
  p.num_logprobs = -1;
  std::map<int, int> seen;
  for (int variant = 0; variant < 3; ++variant) {
    p.temperature = 1.5f;
    p.top_k = variant == 1 ? 2 : 0;
    p.top_p = variant == 2 ? 0.99f : 1.f;
    p.has_seed = 1;
    for (int i = 0; i < 400; ++i) {
      p.seed = static_cast<uint64_t>(i);
      const int t = sample(s, l, p, i).token_id;
      CHECK(t == 5 || t == 33 || t == 39);
      seen[t]++;
    }
  }
  CHECK(seen[33] > seen[39]);
  CHECK(seen[39] > seen[5]);
  CHECK(seen[5] > 0);  // an allowed id the model dislikes is still drawn sometimes at T=1.5
  // Bias and penalties cannot bring a masked-out id back.
  p = params();
  p.allowed_token_mask = m.data();
  int32_t id = 1;
  float bias = 100.f;
  p.logit_bias_ids = &id;
  p.logit_bias_values = &bias;
  p.num_logit_bias = 1;
  p.repetition_penalty = 2.f;
  CHECK_EQ(sample(s, l, p, 0, {1}, {1}).token_id, 33);
}

TEST(engine_applies_the_mask_and_refuses_an_empty_one) {
  di_engine* e = make_engine(model());
  CHECK(e != nullptr);
  const int V = 512;
  // Greedy from BOS is id 403 ("Once") for stories260k; forbid it and allow only 10 and 45.
  const auto m = mask_of(V, {10, 45});
  int32_t tokens[1] = {1};
  int32_t blocks[1] = {0};
  di_step_seq seq{};
  seq.token_ids = tokens;
  seq.num_tokens = 1;
  seq.start_pos = 0;
  seq.block_table = blocks;
  seq.num_blocks = 1;
  seq.sample = 1;
  di_sampling_params_init(&seq.sampling);
  seq.sampling.allowed_token_mask = m.data();
  di_step_input in{&seq, 1, nullptr, nullptr};
  di_seq_output o{};
  std::vector<float> logits(V);
  di_step_output out{&o, logits.data(), 0};
  char err[512] = {0};
  CHECK_EQ(di_engine_step(e, &in, &out, err, sizeof(err)), 0);
  const int expect = logits[10] > logits[45] || (logits[10] == logits[45]) ? 10 : 45;
  CHECK_EQ(o.token_id, expect);
  const auto none = mask_of(V, {});
  seq.sampling.allowed_token_mask = none.data();
  CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) != 0);
  CHECK(std::string(err).find("allowed_token_mask allows no token") != std::string::npos);
  di_engine_free(e);
}

// Masks later: what the await_masks callback saw and supplies.
struct LateMasks {
  const float* logits = nullptr;      // the step's output->logits
  const float* reference = nullptr;   // the same rows' logits from an earlier step
  int vocab = 0;
  int calls = 0;
  bool logits_ready = false;          // every sampling row's logits were written when called
  bool entries_null = true;           // masks[] was all NULL on entry
  const uint32_t* mask = nullptr;     // given to row 0; row 1 is refused
  int sleep_ms = 0;                   // the caller "computes" its masks meanwhile
  int rc = 0;
};

int await_late_masks(void* ctx, const uint32_t** masks, int32_t n) {
  auto* c = static_cast<LateMasks*>(ctx);
  ++c->calls;
  for (int32_t i = 0; i < n; ++i) c->entries_null = c->entries_null && masks[i] == nullptr;
  // The forward pass has run: the raw logits of all three rows are there (they were NaN before
  // the step) and equal those of the same rows computed by an earlier step.
  c->logits_ready = std::memcmp(c->logits, c->reference, sizeof(float) * static_cast<size_t>(3 * c->vocab)) == 0;
  if (c->sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c->sleep_ms));
  masks[0] = c->mask;
  return c->rc;
}

TEST(engine_masks_later_arrive_after_the_forward_pass) {
  di_engine* e = make_engine(model());
  CHECK(e != nullptr);
  const int V = 512;
  int32_t tokens[1] = {1};
  int32_t blocks[3] = {0, 1, 2};
  std::vector<di_step_seq> seqs(3);
  for (int i = 0; i < 3; ++i) {
    di_step_seq& s = seqs[static_cast<size_t>(i)];
    s = di_step_seq{};
    s.token_ids = tokens;
    s.num_tokens = 1;
    s.block_table = &blocks[i];
    s.num_blocks = 1;
    s.sample = 1;
    di_sampling_params_init(&s.sampling);
  }
  std::vector<di_seq_output> outs(3);
  std::vector<float> reference(static_cast<size_t>(3 * V));
  di_step_input in{seqs.data(), 3, nullptr, nullptr};
  di_step_output out{outs.data(), reference.data(), 0};
  char err[512] = {0};
  CHECK_EQ(di_engine_step(e, &in, &out, err, sizeof(err)), 0);
  CHECK_EQ(outs[2].token_id, 403);  // greedy from BOS: "Once"

  // Rows 0 and 1 take their masks later; row 2 samples freely.
  const auto m = mask_of(V, {10, 45});
  seqs[0].mask_later = 1;
  seqs[1].mask_later = 1;
  std::vector<float> logits(static_cast<size_t>(3 * V), std::nanf(""));
  LateMasks ctx;
  ctx.logits = logits.data();
  ctx.reference = reference.data();
  ctx.vocab = V;
  ctx.mask = m.data();
  ctx.sleep_ms = 30;
  in.await_masks = await_late_masks;
  in.await_masks_ctx = &ctx;
  out.logits = logits.data();
  outs.assign(3, di_seq_output{});
  CHECK_EQ(di_engine_step(e, &in, &out, err, sizeof(err)), 0);
  CHECK_EQ(ctx.calls, 1);
  CHECK(ctx.entries_null);
  CHECK(ctx.logits_ready);
  CHECK(out.masks_wait_ms >= 30.0);  // the time the step blocked in the callback
  CHECK_EQ(outs[0].sampled, 1);
  const int expect = reference[10] >= reference[45] ? 10 : 45;
  CHECK_EQ(outs[0].token_id, expect);  // the late mask holds (403 is masked out)
  CHECK_EQ(outs[1].sampled, 0);        // refused: no sample
  CHECK_EQ(outs[1].token_id, -1);
  CHECK_EQ(outs[2].sampled, 1);
  CHECK_EQ(outs[2].token_id, 403);

  // A late mask that allows no token fails the step, as an up-front one does.
  const auto none = mask_of(V, {});
  ctx.mask = none.data();
  ctx.sleep_ms = 0;
  CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) != 0);
  CHECK(std::string(err).find("seqs[0].sampling.allowed_token_mask allows no token") != std::string::npos);
  // A failing callback fails the step.
  ctx.mask = m.data();
  ctx.rc = 7;
  CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) != 0);
  CHECK(std::string(err).find("await_masks failed") != std::string::npos);
  // mask_later needs a callback and no up-front mask.
  ctx.rc = 0;
  in.await_masks = nullptr;
  CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) != 0);
  CHECK(std::string(err).find("seqs[0].mask_later is set but input.await_masks is NULL") != std::string::npos);
  in.await_masks = await_late_masks;
  seqs[0].sampling.allowed_token_mask = m.data();
  CHECK(di_engine_step(e, &in, &out, err, sizeof(err)) != 0);
  CHECK(std::string(err).find("allowed_token_mask must be NULL") != std::string::npos);
  // No mask-later row that samples: the callback is not called.
  seqs[0].sampling.allowed_token_mask = nullptr;
  seqs[0].sample = 0;
  seqs[1].sample = 0;
  ctx.calls = 0;
  CHECK_EQ(di_engine_step(e, &in, &out, err, sizeof(err)), 0);
  CHECK_EQ(ctx.calls, 0);
  CHECK(out.masks_wait_ms == 0.0);
  di_engine_free(e);
}

TEST_MAIN()
