// Batch invariance and shared prefix blocks, on the real stories260k model.
//  - A sequence's greedy tokens (and, stronger, its logits bit for bit) are the same when it
//    runs alone, inside a batch of 16 sequences mixing prefill chunks and decode tokens, and
//    with its prompt split into chunks of 7 tokens.
//  - Sequences whose block tables share their first (full) blocks produce the same logits as
//    sequences holding private copies.
#include <algorithm>
#include <random>

#include "test_util.h"

using namespace ditest;

namespace {

std::string model() { return models_dir() + "/stories260k"; }
constexpr int kBs = 16;

std::vector<int32_t> golden_prefix(int n) {
  auto ids = read_ids(model() + "/expected_greedy_from_bos_200_tokens.ids");
  return std::vector<int32_t>(ids.begin(), ids.begin() + n);
}

struct Trace {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // at each sampling step
};

// Runs `seqs` with a simple scheduler: each step every unfinished sequence runs either its
// next prefill chunk (chunk[i] tokens, 0 = whole remaining prompt) or one decode token.
// Sequence i starts at step start_step[i]. Returns the trace of sequence `watch`.
Trace run_mixed(di_engine* e, std::vector<Seq>& seqs, const std::vector<int>& chunk, const std::vector<int>& start_step,
                int n_new, int watch) {
  Trace tr;
  std::vector<float> logits(static_cast<size_t>(512) * seqs.size());
  for (int step = 0; step < 1000; ++step) {
    std::vector<di_step_seq> items;
    std::vector<int> which, took;
    std::vector<std::vector<int32_t>> alls(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      Seq& s = seqs[i];
      if (step < start_step[i] || static_cast<int>(s.output.size()) >= n_new) continue;
      alls[i] = s.all();
      const int remaining = static_cast<int>(alls[i].size()) - s.computed;
      const int take = (chunk[i] > 0 && remaining > chunk[i]) ? chunk[i] : remaining;
      items.push_back(step_item(s, take, alls[i]));
      which.push_back(static_cast<int>(i));
      took.push_back(take);
    }
    if (items.empty()) break;
    std::vector<di_seq_output> outs;
    if (!run_step(e, items, &outs, logits.data())) break;
    for (size_t j = 0; j < items.size(); ++j) {
      Seq& s = seqs[static_cast<size_t>(which[j])];
      s.computed += took[j];
      if (outs[j].sampled) {
        s.output.push_back(outs[j].token_id);
        if (which[j] == watch) {
          tr.tokens.push_back(outs[j].token_id);
          tr.logits.emplace_back(logits.begin() + static_cast<long>(j) * 512, logits.begin() + static_cast<long>(j + 1) * 512);
        }
      }
    }
  }
  return tr;
}

Seq make_seq(const std::vector<int32_t>& prompt, int first_block, int n_blocks) {
  Seq s;
  s.prompt = prompt;
  for (int i = 0; i < n_blocks; ++i) s.blocks.push_back(first_block + i);
  return s;
}

}  // namespace

TEST(greedy_is_invariant_to_batch_composition_and_chunking) {
  di_engine* e = make_engine(model(), 2, 256, kBs, 256);
  if (e == nullptr) return;
  const int n_new = 40;
  const std::vector<int32_t> prompt = golden_prefix(23);
  const int nb = (32 + n_new + kBs - 1) / kBs;  // 5 blocks: prompts are at most 32 tokens

  std::vector<Seq> alone{make_seq(prompt, 0, nb)};
  Trace a = run_mixed(e, alone, {0}, {0}, n_new, 0);
  CHECK_EQ(a.tokens.size(), static_cast<size_t>(n_new));

  // 16 sequences: the watched one (index 5) plus 15 others with different prompts, started at
  // different steps and with different chunk sizes, so each step mixes prefill chunks of
  // several sizes with decode tokens.
  std::mt19937 g(7);
  std::vector<Seq> batch;
  std::vector<int> chunk, start;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> p;
    if (i == 5) {
      p = prompt;
    } else {
      const int len = 3 + static_cast<int>(g() % 30);
      p.push_back(1);
      for (int j = 1; j < len; ++j) p.push_back(static_cast<int32_t>(3 + g() % 500));
    }
    batch.push_back(make_seq(p, 4 * nb + i * nb, nb));
    chunk.push_back(i % 3 == 0 ? 5 : 0);
    start.push_back(i == 5 ? 3 : static_cast<int>(g() % 6));
  }
  Trace b = run_mixed(e, batch, chunk, start, n_new, 5);
  CHECK(b.tokens == a.tokens);
  CHECK_MSG(b.logits == a.logits, "logits differ between alone and batched runs");

  // The same prompt in chunks of 7 tokens.
  std::vector<Seq> chunked{make_seq(prompt, 120, nb)};
  Trace c = run_mixed(e, chunked, {7}, {0}, n_new, 0);
  CHECK(c.tokens == a.tokens);
  CHECK_MSG(c.logits == a.logits, "logits differ between whole-prompt and 7-token-chunk prefill");

  // Scratch sized for 8 tokens: a 23-token step must grow it (slow path) and still agree.
  di_engine* small = make_engine(model(), 2, 256, kBs, 8);
  std::vector<Seq> grown{make_seq(prompt, 0, nb)};
  Trace g2 = run_mixed(small, grown, {0}, {0}, n_new, 0);
  CHECK(g2.logits == a.logits);
  di_engine_free(small);

  // And with one thread (different panel split across threads).
  di_engine* e1 = make_engine(model(), 1, 256, kBs, 256);
  std::vector<Seq> single{make_seq(prompt, 0, nb)};
  Trace d = run_mixed(e1, single, {0}, {0}, n_new, 0);
  CHECK(d.logits == a.logits);
  di_engine_free(e1);
  di_engine_free(e);
}

TEST(shared_prefix_blocks_give_the_same_logits_as_private_copies) {
  di_engine* e = make_engine(model(), 2, 64, kBs, 256);
  if (e == nullptr) return;
  const std::vector<int32_t> prefix = golden_prefix(32);  // exactly two full blocks
  std::vector<int32_t> p1 = prefix, p2 = prefix;
  for (int32_t t : {300, 301, 302, 303, 304}) p1.push_back(t);
  for (int32_t t : {410, 411, 412}) p2.push_back(t);

  // Private copies: each sequence computes its whole prompt into its own blocks.
  std::vector<float> priv(2 * 512), shared(2 * 512);
  {
    Seq a = make_seq(p1, 10, 3), b = make_seq(p2, 20, 3);
    std::vector<di_step_seq> items{step_item(a, static_cast<int>(p1.size()), p1), step_item(b, static_cast<int>(p2.size()), p2)};
    std::vector<di_seq_output> outs;
    run_step(e, items, &outs, priv.data());
  }
  // Shared: a third sequence fills the prefix blocks 0 and 1 (prefill without sampling); then
  // both sequences point at blocks 0, 1 and only compute their own tails, in one step.
  {
    Seq pre = make_seq(prefix, 0, 2);
    std::vector<di_step_seq> items{step_item(pre, 32, prefix)};
    items[0].sample = 0;
    std::vector<di_seq_output> outs;
    run_step(e, items, &outs);
    CHECK(outs[0].sampled == 0);
    Seq a = make_seq(p1, 0, 2), b = make_seq(p2, 0, 2);
    a.blocks.push_back(30);
    b.blocks.push_back(31);
    a.computed = 32;
    b.computed = 32;
    std::vector<di_step_seq> tails{step_item(a, static_cast<int>(p1.size()) - 32, p1),
                                   step_item(b, static_cast<int>(p2.size()) - 32, p2)};
    run_step(e, tails, &outs, shared.data());
  }
  CHECK_MSG(priv == shared, "shared-prefix logits differ from private-copy logits");
  di_engine_free(e);
}

TEST_MAIN()
