#include "core/sampling.h"

#include <algorithm>
#include <cmath>

namespace deepinfer {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Greater logit first; ties by lower id (a total order, so results never depend on sort
// implementation details).
struct ByValueDesc {
  const float* v;
  bool operator()(int32_t a, int32_t b) const { return v[a] > v[b] || (v[a] == v[b] && a < b); }
};

}  // namespace

double seeded_uniform(uint64_t seed, int64_t position) {
  const uint64_t h = splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(position));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

Sampler::Sampler(int vocab)
    : vocab_(vocab),
      work_(static_cast<size_t>(vocab)),
      order_(static_cast<size_t>(vocab)),
      counts_(static_cast<size_t>(vocab), 0),
      in_ctx_(static_cast<size_t>(vocab), 0) {}

void Sampler::sample(const SampleRequest& req, di_seq_output* out) {
  const di_sampling_params& p = *req.params;
  const float* raw = req.logits;
  const int V = vocab_;
  float* w = work_.data();

  out->sampled = 1;
  out->num_top = 0;
  out->logprob = 0.f;
  out->rank = 0;

  // 1. Raw log-softmax normaliser (double accumulation: vocabularies reach 150K entries).
  double lse = 0.0;
  if (p.num_logprobs >= 0) {
    float mx = raw[0];
    for (int i = 1; i < V; ++i) mx = std::max(mx, raw[i]);
    double s = 0.0;
    for (int i = 0; i < V; ++i) s += std::exp(static_cast<double>(raw[i]) - mx);
    lse = mx + std::log(s);
  }

  // 2-3. Bias and penalties.
  std::copy(raw, raw + V, w);
  if (p.allowed_token_mask != nullptr) {
    const uint32_t* m = p.allowed_token_mask;
    for (int i = 0; i < V; ++i) {
      if (((m[i >> 5] >> (i & 31)) & 1u) == 0) w[i] = -INFINITY;
    }
  }
  for (int i = 0; i < p.num_logit_bias; ++i) w[p.logit_bias_ids[i]] += p.logit_bias_values[i];
  const bool rep = p.repetition_penalty != 1.f;
  const bool freq_pres = p.frequency_penalty != 0.f || p.presence_penalty != 0.f;
  if (rep || freq_pres) {
    for (int i = 0; i < req.num_output_ids; ++i) {
      counts_[static_cast<size_t>(req.output_ids[i])]++;
      in_ctx_[static_cast<size_t>(req.output_ids[i])] = 1;
    }
    for (int i = 0; i < req.num_prompt_ids; ++i) in_ctx_[static_cast<size_t>(req.prompt_ids[i])] = 1;
    auto apply = [&](int32_t id) {
      // Each distinct token once: in_ctx_ is cleared as the token is processed.
      if (!in_ctx_[static_cast<size_t>(id)]) return;
      in_ctx_[static_cast<size_t>(id)] = 0;
      float& x = w[id];
      if (rep) x = x > 0.f ? x / p.repetition_penalty : x * p.repetition_penalty;
      const int32_t c = counts_[static_cast<size_t>(id)];
      x -= p.frequency_penalty * static_cast<float>(c);
      x -= p.presence_penalty * (c > 0 ? 1.f : 0.f);
      counts_[static_cast<size_t>(id)] = 0;
    };
    for (int i = 0; i < req.num_prompt_ids; ++i) apply(req.prompt_ids[i]);
    for (int i = 0; i < req.num_output_ids; ++i) apply(req.output_ids[i]);
  }

  int32_t token = 0;
  if (p.temperature < 1e-5f) {
    // 4. Greedy.
    for (int i = 1; i < V; ++i) {
      if (w[i] > w[token]) token = i;
    }
  } else {
    // 5. Temperature, softmax, filters, inverse-CDF draw.
    const float inv_t = 1.f / p.temperature;
    float mx = -INFINITY;
    for (int i = 0; i < V; ++i) {
      w[i] *= inv_t;
      mx = std::max(mx, w[i]);
    }
    double total = 0.0;
    for (int i = 0; i < V; ++i) {
      w[i] = std::exp(w[i] - mx);  // probabilities up to normalisation; max is 1
      total += w[i];
    }
    int n = 0;
    const float min_keep = p.min_p > 0.f ? p.min_p : 0.f;  // relative to p_max = 1 (unnormalised)
    for (int i = 0; i < V; ++i) {
      if (w[i] > 0.f && w[i] >= min_keep) order_[static_cast<size_t>(n++)] = i;
    }
    ByValueDesc cmp{w};
    const bool need_sort = p.top_k > 0 || p.top_p < 1.f;
    if (p.top_k > 0 && p.top_k < n) {
      std::nth_element(order_.begin(), order_.begin() + p.top_k, order_.begin() + n, cmp);
      n = p.top_k;
    }
    if (need_sort) std::sort(order_.begin(), order_.begin() + n, cmp);
    total = 0.0;
    for (int i = 0; i < n; ++i) total += w[order_[static_cast<size_t>(i)]];
    if (p.top_p < 1.f) {
      double c = 0.0;
      int keep = n;
      for (int i = 0; i < n; ++i) {
        c += w[order_[static_cast<size_t>(i)]];
        if (c >= p.top_p * total) {
          keep = i + 1;
          break;
        }
      }
      n = keep;
      total = c;
    }
    const double u = p.has_seed ? seeded_uniform(p.seed, req.position) : req.unseeded_uniform;
    const double target = u * total;
    double c = 0.0;
    token = order_[static_cast<size_t>(n - 1)];
    for (int i = 0; i < n; ++i) {
      c += w[order_[static_cast<size_t>(i)]];
      if (c > target) {
        token = order_[static_cast<size_t>(i)];
        break;
      }
    }
  }
  out->token_id = token;

  if (p.num_logprobs >= 0) {
    out->logprob = static_cast<float>(raw[token] - lse);
    int rank = 1;
    for (int i = 0; i < V; ++i) rank += raw[i] > raw[token] ? 1 : 0;
    out->rank = rank;
    const int N = std::min(p.num_logprobs, V);
    if (N > 0) {
      for (int i = 0; i < V; ++i) order_[static_cast<size_t>(i)] = i;
      ByValueDesc cmp{raw};
      std::partial_sort(order_.begin(), order_.begin() + N, order_.begin() + V, cmp);
      for (int i = 0; i < N; ++i) {
        out->top_ids[i] = order_[static_cast<size_t>(i)];
        out->top_logprobs[i] = static_cast<float>(raw[order_[static_cast<size_t>(i)]] - lse);
      }
      out->num_top = N;
    }
  }
}

}  // namespace deepinfer
