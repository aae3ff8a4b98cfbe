// deepinfer-cuda-check: GPU validation helper (used by scripts/gpu-check.sh).
//
//   deepinfer-cuda-check logits MODEL_DIR OUT.f32 ID,ID,... [cpu|cuda]
//       decodes the prompt one token per step and writes the logits of every position
//       ([P][V] float32, little-endian) for the transformers cross-check.
//   deepinfer-cuda-check bench CONFIG_DIR [--batches 1,32,128,256] [--context 512]
//       [--decode-steps 32] [--prefill 2048] [--weights bf16|fp8] [--kv bf16|fp8]
//       random bf16 weights of config.json's shape generated on the GPU (no files; --weights
//       fp8: the layers' matrices as E4M3 with per-row scales; --kv fp8: the fp8 KV cache; both
//       run fp8.cu's kernels, not yet validated, so the bench enables them itself), then
//       decode tokens/s per batch size, prefill tokens/s, the card's copy bandwidth and bf16
//       GEMM rate, and each figure against its roofline. Prints "RESULT key value" lines, then
//       per-phase GPU time of profiled steps ("PROFILE workload phase ms_per_step share").
#include <algorithm>
#include <chrono>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "core/model_config.h"
#include "cuda_bench/phase_timer.h"
#include "cuda_bench/random_weights.h"
#include "deepinfer/engine.h"
#include "settings_env.h"

using deepinfer::cuda::CudaBackend;

namespace {

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) {
    if (!x.empty()) v.push_back(std::atoi(x.c_str()));
  }
  return v;
}

int cmd_logits(int argc, char** argv) {
  if (argc < 5) return 2;
  const std::string model = argv[2];
  const std::vector<int> ids = parse_list(argv[4]);
  di_engine_config c;
  di_engine_config_init(&c);
  deepinfer_tools::apply_settings_env(&c);
  c.model = model.c_str();
  c.backend = (argc > 5 && std::string(argv[5]) == "cpu") ? DI_BACKEND_CPU : DI_BACKEND_CUDA;
  c.num_kv_blocks = 64;
  c.max_num_batched_tokens = 512;
  char err[2048];
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  if (e == nullptr) {
    std::fprintf(stderr, "create: %s\n", err);
    return 1;
  }
  di_engine_info info;
  di_engine_get_info(e, &info);
  const int V = info.vocab_size;
  std::vector<int32_t> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(i);
  FILE* f = std::fopen(argv[3], "wb");
  if (f == nullptr) return 1;
  std::vector<float> lg(static_cast<size_t>(V));
  for (size_t p = 0; p < ids.size(); ++p) {
    di_step_seq s;
    std::memset(&s, 0, sizeof(s));
    const int32_t tok = ids[p];
    s.token_ids = &tok;
    s.num_tokens = 1;
    s.start_pos = static_cast<int32_t>(p);
    s.block_table = blocks.data();
    s.num_blocks = 64;
    s.sample = 1;
    di_sampling_params_init(&s.sampling);
    di_step_input in{&s, 1, nullptr, nullptr};
    di_seq_output o;
    di_step_output out{&o, lg.data(), 0};
    if (di_engine_step(e, &in, &out, err, sizeof(err)) != 0) {
      std::fprintf(stderr, "step: %s\n", err);
      return 1;
    }
    std::fwrite(lg.data(), 4, static_cast<size_t>(V), f);
  }
  std::fclose(f);
  std::printf("wrote %zu x %d logits (%s on %s)\n", ids.size(), V, info.backend, info.device_name);
  di_engine_free(e);
  return 0;
}

using Clock = std::chrono::steady_clock;

int cmd_bench(int argc, char** argv) {
  const std::string dir = argv[2];
  std::vector<int> batches{1, 32, 128, 256};
  int context = 512, steps = 32, prefill = 2048;
  bool fp8_weights = false, fp8_kv = false;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--batches") batches = parse_list(argv[i + 1]);
    if (k == "--context") context = std::atoi(argv[i + 1]);
    if (k == "--decode-steps") steps = std::atoi(argv[i + 1]);
    if (k == "--prefill") prefill = std::atoi(argv[i + 1]);
    if (k == "--weights") fp8_weights = std::string(argv[i + 1]) == "fp8";
    if (k == "--kv") fp8_kv = std::string(argv[i + 1]) == "fp8";
  }
  if (fp8_weights || fp8_kv) setenv("DEEPINFER_DEV_CUDA_FP8", "1", 1);  // the unvalidated kernels, on purpose
  const deepinfer::ModelConfig cfg = deepinfer::load_model_config(dir);
  deepinfer::BackendOptions options = deepinfer_tools::backend_options_from_env(deepinfer::DType::kBF16);
  if (fp8_kv) options.kv_cache_dtype = deepinfer::DType::kF8E4M3;
  CudaBackend be(0, options);
  std::printf("device: %s; GEMM: %s\n", be.device_name(), be.gemm_note());
  const double bw = deepinfer::cuda::measure_copy_bandwidth(be.stream());
  const double mm = deepinfer::cuda::measure_gemm_rate(be.gemm(), 8192, be.stream());
  std::printf("RESULT copy_bandwidth_GBps %.1f\nRESULT bf16_gemm_TFLOPs %.1f\n", bw / 1e9, mm / 1e12);
  auto t0 = Clock::now();
  deepinfer::cuda::RandomWeights random_weights(1);
  be.load_device_weights(cfg, deepinfer::cuda::Dt::kBF16, random_weights, fp8_weights);
  std::printf("random %s weights: %.2f GB in %.1f s; KV cache %s\n", fp8_weights ? "fp8 (layers) + bf16" : "bf16",
              be.weight_bytes() / 1e9, std::chrono::duration<double>(Clock::now() - t0).count(), fp8_kv ? "fp8" : "bf16");
  const int bs = 16;
  int max_b = 1;
  for (int b : batches) max_b = std::max(max_b, b);
  const int per_seq = (context + steps + bs) / bs + 1;
  deepinfer::KvCacheGeometry g;
  g.num_layers = cfg.num_layers;
  g.block_size = bs;
  g.num_kv_heads = cfg.num_kv_heads;
  g.head_dim = cfg.head_dim;
  g.bytes_per_element = fp8_kv ? 1 : 2;
  g.scale_bytes_per_head = fp8_kv ? 1 : 0;
  g.num_blocks = std::max(max_b * per_seq, (prefill + bs - 1) / bs + 1);
  be.init_kv_cache(g);
  be.zero_kv();
  be.reserve(std::max(prefill, max_b), max_b);
  const double wbytes = static_cast<double>(be.weight_bytes_per_step());
  di_sampling_params sp;
  di_sampling_params_init(&sp);
  auto run = [&](int n_seqs, int tokens_per_seq, int start, std::vector<std::vector<int32_t>>& tables) {
    std::vector<int32_t> tok(static_cast<size_t>(n_seqs * tokens_per_seq), 5), pos, seq;
    std::vector<deepinfer::SeqSpan> spans;
    std::vector<int32_t> rows;
    for (int s = 0; s < n_seqs; ++s) {
      spans.push_back({s * tokens_per_seq, tokens_per_seq, start, tables[static_cast<size_t>(s)].data(),
                       static_cast<int32_t>(tables[static_cast<size_t>(s)].size())});
      for (int j = 0; j < tokens_per_seq; ++j) {
        pos.push_back(start + j);
        seq.push_back(s);
      }
      rows.push_back(s * tokens_per_seq + tokens_per_seq - 1);
    }
    deepinfer::ForwardBatch b;
    b.num_tokens = n_seqs * tokens_per_seq;
    b.token_ids = tok.data();
    b.positions = pos.data();
    b.token_seq = seq.data();
    b.num_seqs = n_seqs;
    b.seqs = spans.data();
    b.num_logit_rows = n_seqs;
    b.logit_rows = rows.data();
    std::vector<deepinfer::SampleRow> sr(static_cast<size_t>(n_seqs));
    for (auto& r : sr) r.params = &sp;
    std::vector<di_seq_output> outs(static_cast<size_t>(n_seqs));
    be.forward_sample(b, sr.data(), outs.data(), nullptr, nullptr);
  };
  // Profiled steps: per-phase GPU time (events between launch groups; host gaps show up in
  // the phase that follows them) against the step's wall time.
  std::vector<std::string> profile_lines;
  // Returns the per-phase ms per step.
  auto profile = [&](const std::string& name, int reps, const std::function<void(int)>& step) {
    deepinfer::cuda::PhaseTimer timer;
    be.set_step_observer(&timer);
    auto t = Clock::now();
    for (int i = 0; i < reps; ++i) step(i);
    const double wall_ms = std::chrono::duration<double>(Clock::now() - t).count() * 1e3 / reps;
    be.set_step_observer(nullptr);
    double gpu_ms = 0;
    std::vector<std::pair<double, std::string>> phases;
    for (const auto& kv : timer.totals_ms()) {
      phases.push_back({kv.second / timer.steps(), kv.first});
      gpu_ms += kv.second / timer.steps();
    }
    std::sort(phases.rbegin(), phases.rend());
    char line[256];
    std::snprintf(line, sizeof(line), "PROFILE %s wall %.3f ms/step, GPU timeline %.3f ms/step", name.c_str(),
                  wall_ms, gpu_ms);
    profile_lines.push_back(line);
    for (const auto& ph : phases) {
      std::snprintf(line, sizeof(line), "PROFILE %s %-22s %8.3f ms %5.1f%%", name.c_str(), ph.second.c_str(), ph.first,
                    100.0 * ph.first / gpu_ms);
      profile_lines.push_back(line);
    }
    std::map<std::string, double> per_step;
    for (const auto& ph : phases) per_step[ph.second] = ph.first;
    return per_step;
  };
  std::string details;  // the backend's choices, read while its graphs are still captured
  // K and V per token: bf16, or fp8 bytes plus one exponent per kv head.
  const int64_t kv_token_bytes = 2LL * cfg.num_layers * cfg.num_kv_heads * (fp8_kv ? cfg.head_dim + 1 : cfg.head_dim * 2);
  for (int B : batches) {
    std::vector<std::vector<int32_t>> tables(static_cast<size_t>(B));
    for (int s = 0; s < B; ++s) {
      for (int j = 0; j < per_seq; ++j) tables[static_cast<size_t>(s)].push_back(s * per_seq + j);
    }
    run(B, 1, context, tables);  // warm-up
    auto t = Clock::now();
    for (int i = 0; i < steps; ++i) run(B, 1, context + i, tables);
    const double sec = std::chrono::duration<double>(Clock::now() - t).count();
    const double tps = B * steps / sec;
    // Roofline of a step: the bytes it must read (the weights once, plus every row's K/V
    // context) over the copy bandwidth (bw counts bytes read + written, i.e. bytes moved).
    const double kv_bytes = static_cast<double>(B) * (context + steps / 2) * static_cast<double>(kv_token_bytes);
    const double step_roof = (wbytes + kv_bytes) / bw;
    std::printf("RESULT decode_b%d_tok_s %.1f\nRESULT decode_b%d_roofline_frac %.3f\n", B, tps, B,
                (sec / steps) > 0 ? step_roof / (sec / steps) : 0.0);
    std::fflush(stdout);
    if (B == batches.front() || B == batches.back()) {
      // The same steps launched kernel by kernel (no CUDA graph), then profiled (also eager:
      // the phase timer needs the launches).
      details = be.details() + ", " + std::to_string(be.cuda_graphs_captured()) + " captured";
      const bool graphs = be.cuda_graphs();
      be.set_cuda_graphs(false);
      auto te = Clock::now();
      for (int i = 0; i < steps; ++i) run(B, 1, context + i, tables);
      const double sec_e = std::chrono::duration<double>(Clock::now() - te).count();
      std::printf("RESULT decode_b%d_eager_tok_s %.1f\n", B, B * steps / sec_e);
      profile("decode_b" + std::to_string(B), 8, [&](int i) { run(B, 1, context + i, tables); });
      be.set_cuda_graphs(graphs);
    }
  }
  {
    std::vector<std::vector<int32_t>> tables(1);
    for (int j = 0; j < (prefill + bs - 1) / bs; ++j) tables[0].push_back(j);
    run(1, prefill, 0, tables);
    auto t = Clock::now();
    const int reps = 3;
    for (int i = 0; i < reps; ++i) run(1, prefill, 0, tables);
    const double sec = std::chrono::duration<double>(Clock::now() - t).count() / reps;
    const double bytes_per_weight = fp8_weights ? 1.0 : 2.0;  // (fp8: the scales are noise)
    const double flops = 2.0 * wbytes / bytes_per_weight * prefill;  // 2 FLOP per weight per token
    std::printf("RESULT prefill_%d_tok_s %.1f\nRESULT prefill_gemm_frac %.3f\n", prefill, prefill / sec,
                flops / sec / mm);
    const std::map<std::string, double> ph =
        profile("prefill_" + std::to_string(prefill), 2, [&](int) { run(1, prefill, 0, tables); });
    // The layers' GEMMs alone ("gemm *" phases; the LM head runs for one row and is left out):
    // their FLOPs over their profiled time, against the measured GEMM rate.
    const double head = static_cast<double>(cfg.vocab_size) * cfg.hidden_size;
    const double gemm_flops = 2.0 * (fp8_weights ? wbytes - 2.0 * head : wbytes / 2.0 - head) * prefill;
    double gemm_ms = 0;
    for (const auto& kv : ph) {
      if (kv.first.rfind("gemm", 0) == 0) gemm_ms += kv.second;
    }
    if (gemm_ms > 0) std::printf("RESULT prefill_gemms_only_frac %.3f\n", gemm_flops / (gemm_ms * 1e-3) / mm);
  }
  std::printf("backend: %s\n", details.c_str());
  for (const std::string& l : profile_lines) std::printf("%s\n", l.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 5 && std::string(argv[1]) == "logits") return cmd_logits(argc, argv);
    if (argc >= 3 && std::string(argv[1]) == "bench") return cmd_bench(argc, argv);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "error: %s\n", ex.what());
    return 1;
  }
  std::fprintf(stderr, "usage: deepinfer-cuda-check logits MODEL OUT.f32 IDS [cpu|cuda] | bench CONFIG_DIR [...]\n");
  return 2;
}
