// deepinfer-run: load a model directory (or Hub id from the local cache) and generate from
// token ids, without Node. Prefill runs as one step (or chunks of --chunk), then one decode
// step per token; the KV blocks of the single sequence are 0, 1, 2, ...
//
//   deepinfer-run MODEL [--prompt 1,403,407] [--max-tokens 200] [--threads N]
//                 [--temperature T] [--top-k K] [--top-p P] [--seed S] [--chunk N]
//                 [--logits]   (print the last-position logits of the prompt and exit)
//                 [--stop-at-eos]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "deepinfer/engine.h"
#include "settings_env.h"

namespace {

std::vector<int32_t> parse_ids(const char* s) {
  std::vector<int32_t> ids;
  const char* p = s;
  while (*p) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end == p) break;
    ids.push_back(static_cast<int32_t>(v));
    p = end;
    while (*p == ',' || *p == ' ') ++p;
  }
  return ids;
}

int usage() {
  std::fprintf(stderr,
               "usage: deepinfer-run MODEL [--prompt ids] [--max-tokens N] [--threads N] [--temperature T]\n"
               "                     [--top-k K] [--top-p P] [--seed S] [--chunk N] [--logits] [--stop-at-eos]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  di_engine_config cfg;
  di_engine_config_init(&cfg);
  deepinfer_tools::apply_settings_env(&cfg);
  cfg.model = argv[1];
  std::vector<int32_t> prompt;
  int max_tokens = 200;
  int chunk = 0;
  bool print_logits = false, stop_at_eos = false;
  di_sampling_params sp;
  di_sampling_params_init(&sp);
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--prompt") prompt = parse_ids(next());
    else if (a == "--max-tokens") max_tokens = std::atoi(next());
    else if (a == "--threads") cfg.num_threads = std::atoi(next());
    else if (a == "--temperature") sp.temperature = static_cast<float>(std::atof(next()));
    else if (a == "--top-k") sp.top_k = std::atoi(next());
    else if (a == "--top-p") sp.top_p = static_cast<float>(std::atof(next()));
    else if (a == "--seed") { sp.has_seed = 1; sp.seed = std::strtoull(next(), nullptr, 10); }
    else if (a == "--chunk") chunk = std::atoi(next());
    else if (a == "--logits") print_logits = true;
    else if (a == "--stop-at-eos") stop_at_eos = true;
    else return usage();
  }
  char err[1024];
  di_engine* e = di_engine_create(&cfg, err, sizeof(err));
  if (e == nullptr) {
    std::fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  di_engine_info info;
  di_engine_get_info(e, &info);
  if (prompt.empty()) prompt.push_back(info.bos_token_id >= 0 ? info.bos_token_id : 0);
  std::fprintf(stderr, "%s: %d layers, %d/%d heads, head_dim %d, vocab %d, %s weights, backend %s, %d threads\n",
               info.architecture, info.num_layers, info.num_heads, info.num_kv_heads, info.head_dim, info.vocab_size,
               info.weight_dtype, info.backend, info.num_threads);
  const int total = static_cast<int>(prompt.size()) + max_tokens;
  std::vector<int32_t> blocks((total + info.block_size - 1) / info.block_size);
  if (static_cast<int>(blocks.size()) > info.num_kv_blocks) {
    std::fprintf(stderr, "error: %d tokens need more than the %d KV blocks\n", total, info.num_kv_blocks);
    return 1;
  }
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i] = static_cast<int32_t>(i);

  std::vector<int32_t> output;
  std::vector<float> logits(static_cast<size_t>(info.vocab_size));
  int32_t pos = 0;
  const int n_prompt = static_cast<int>(prompt.size());
  const int step_chunk = chunk > 0 ? chunk : n_prompt;
  auto t0 = std::chrono::steady_clock::now();
  double prefill_s = 0;
  while (true) {
    di_step_seq s;
    std::memset(&s, 0, sizeof(s));
    const bool in_prefill = pos < n_prompt;
    const int32_t n = in_prefill ? std::min(step_chunk, n_prompt - pos) : 1;
    s.token_ids = in_prefill ? prompt.data() + pos : &output.back();
    s.num_tokens = n;
    s.start_pos = pos;
    s.block_table = blocks.data();
    s.num_blocks = static_cast<int32_t>(blocks.size());
    s.sample = (pos + n >= n_prompt) ? 1 : 0;
    s.sampling = sp;
    s.prompt_ids = prompt.data();
    s.num_prompt_ids = n_prompt;
    s.output_ids = output.data();
    s.num_output_ids = static_cast<int32_t>(output.size());
    di_step_input in{&s, 1, nullptr, nullptr};
    di_seq_output so;
    di_step_output out{&so, print_logits ? logits.data() : nullptr, 0};
    if (di_engine_step(e, &in, &out, err, sizeof(err)) != 0) {
      std::fprintf(stderr, "error: %s\n", err);
      di_engine_free(e);
      return 1;
    }
    pos += n;
    if (pos == n_prompt) prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (print_logits && so.sampled) {
      for (int i = 0; i < info.vocab_size; ++i) std::printf("%.6f%c", logits[i], i + 1 == info.vocab_size ? '\n' : ' ');
      di_engine_free(e);
      return 0;
    }
    if (!so.sampled) continue;
    output.push_back(so.token_id);
    bool eos = false;
    for (int i = 0; i < info.num_eos_ids; ++i) eos = eos || so.token_id == info.eos_token_ids[i];
    if (static_cast<int>(output.size()) >= max_tokens || (stop_at_eos && eos)) break;
  }
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t i = 0; i < prompt.size(); ++i) std::printf("%d ", prompt[i]);
  for (size_t i = 0; i < output.size(); ++i) std::printf("%d%s", output[i], i + 1 == output.size() ? "\n" : " ");
  std::fprintf(stderr, "prefill %d tokens %.1f ms; decode %zu tokens %.1f tok/s\n", n_prompt, prefill_s * 1e3,
               output.size() > 0 ? output.size() - 1 : 0,
               output.size() > 1 ? (output.size() - 1) / (total_s - prefill_s) : 0.0);
  di_engine_free(e);
  return 0;
}
