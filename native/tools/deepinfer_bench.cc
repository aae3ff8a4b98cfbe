// deepinfer-bench: throughput of the CPU engine (not a test).
//
// Prints a table with decode tokens/s at batch 1, 8, 32, 64 and prefill tokens/s for a
// 512-token prompt, for the bundled stories260k model and for a random-weight model of the
// llama2.c stories110M shape (dim 768, 12 layers, 12 heads, MLP 2048, vocab 32000, context
// 1024, f32, tied embeddings) generated at run time into a temporary directory. It also
// measures this machine's memory bandwidth (multi-threaded streaming read) and prints the
// batch-1 decode roofline: bandwidth / bytes of weights read per token.
//
//   deepinfer-bench [--threads N] [--model DIR]... [--no-110m] [--decode-steps N]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/safetensors.h"
#include "deepinfer/engine.h"

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// Streaming read of a 1 GiB buffer by `threads` threads (vectorised sum of squares, the same
// kernel table the engine uses); best of 5 passes, in bytes/s.
double measure_bandwidth(int threads) {
  const size_t n = (1ull << 30) / sizeof(float);
  std::vector<float> buf(n);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {  // first touch by the reading thread
    ts.emplace_back([&, t] {
      for (size_t i = n * t / threads; i < n * (t + 1) / threads; ++i) buf[i] = static_cast<float>(i & 7);
    });
  }
  for (auto& t : ts) t.join();
  const auto& k = deepinfer::cpu::kernels();
  double best = 0;
  std::vector<float> sink(static_cast<size_t>(threads));
  for (int pass = 0; pass < 5; ++pass) {
    ts.clear();
    auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t b = n * t / threads, e = n * (t + 1) / threads;
        float s = 0;
        for (size_t i = b; i < e; i += 1 << 16) s += k.sum_squares(buf.data() + i, static_cast<int>(std::min<size_t>(1 << 16, e - i)));
        sink[static_cast<size_t>(t)] = s;
      });
    }
    for (auto& t : ts) t.join();
    best = std::max(best, n * sizeof(float) / secs(t0));
  }
  if (sink[0] == -1) std::printf(" ");
  return best;
}

// Random-weight model of the stories110M shape, written with the library's own writer.
std::string make_110m(const std::string& dir) {
  const int D = 768, L = 12, H = 12, I = 2048, V = 32000;
  std::string cfg =
      "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":768,"
      "\"intermediate_size\":2048,\"num_hidden_layers\":12,\"num_attention_heads\":12,\"num_key_value_heads\":12,"
      "\"vocab_size\":32000,\"max_position_embeddings\":1024,\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,"
      "\"tie_word_embeddings\":true,\"bos_token_id\":1,\"eos_token_id\":2,\"torch_dtype\":\"float32\"}";
  FILE* f = std::fopen((dir + "/config.json").c_str(), "w");
  std::fputs(cfg.c_str(), f);
  std::fclose(f);
  uint64_t state = 0x1234567;
  auto rnd = [&]() {  // xorshift, uniform in [-a, a] with a giving std ~0.02
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (static_cast<float>(state >> 40) / 16777216.f - 0.5f) * 0.07f;
  };
  std::vector<deepinfer::TensorToWrite> ts;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool ones) {
    deepinfer::TensorToWrite t{name, deepinfer::DType::kF32, shape, {}};
    int64_t n = 1;
    for (auto d : shape) n *= d;
    t.bytes.resize(static_cast<size_t>(n) * 4);
    float* p = reinterpret_cast<float*>(t.bytes.data());
    for (int64_t i = 0; i < n; ++i) p[i] = ones ? 1.f : rnd();
    ts.push_back(std::move(t));
  };
  add("model.embed_tokens.weight", {V, D}, false);
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {D}, true);
    add(p + "self_attn.q_proj.weight", {H * 64, D}, false);
    add(p + "self_attn.k_proj.weight", {H * 64, D}, false);
    add(p + "self_attn.v_proj.weight", {H * 64, D}, false);
    add(p + "self_attn.o_proj.weight", {D, H * 64}, false);
    add(p + "post_attention_layernorm.weight", {D}, true);
    add(p + "mlp.gate_proj.weight", {I, D}, false);
    add(p + "mlp.up_proj.weight", {I, D}, false);
    add(p + "mlp.down_proj.weight", {D, I}, false);
  }
  add("model.norm.weight", {D}, true);
  deepinfer::write_safetensors(dir + "/model.safetensors", ts);
  return dir;
}

struct Row {
  std::string model;
  double decode[4] = {0, 0, 0, 0};  // batch 1, 8, 32, 64
  double prefill = 0;
  double bytes_per_step = 0;
};

const int kBatches[4] = {1, 8, 32, 64};

bool bench_model(const std::string& label, const std::string& dir, int threads, int decode_steps, Row* row) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = dir.c_str();
  c.num_threads = threads;
  c.block_size = 16;
  // 64 sequences x (16 prompt + decode) tokens, and one 512-token prompt.
  const int per_seq_blocks = (16 + decode_steps + 2 + 15) / 16;
  c.num_kv_blocks = std::max(64 * per_seq_blocks, 512 / 16 + 1);
  c.max_num_batched_tokens = 1024;
  char err[1024];
  std::fprintf(stderr, "[bench] loading %s ...\n", label.c_str());
  auto t0 = Clock::now();
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  if (e == nullptr) {
    std::fprintf(stderr, "error: %s\n", err);
    return false;
  }
  di_engine_info info;
  di_engine_get_info(e, &info);
  std::fprintf(stderr, "[bench] loaded in %.2f s (%s, %.1f MB of weights per step)\n", secs(t0), info.backend,
               info.weight_bytes_per_step / 1e6);
  row->model = label;
  row->bytes_per_step = static_cast<double>(info.weight_bytes_per_step);
  const int V = info.vocab_size;

  for (int bi = 0; bi < 4; ++bi) {
    const int B = kBatches[bi];
    std::vector<std::vector<int32_t>> blocks(static_cast<size_t>(B)), toks(static_cast<size_t>(B));
    for (int s = 0; s < B; ++s) {
      for (int j = 0; j < per_seq_blocks; ++j) blocks[static_cast<size_t>(s)].push_back(s * per_seq_blocks + j);
      for (int j = 0; j < 16; ++j) toks[static_cast<size_t>(s)].push_back((s * 131 + j * 17 + 3) % V);
    }
    std::vector<di_step_seq> items(static_cast<size_t>(B));
    std::vector<di_seq_output> outs(static_cast<size_t>(B));
    auto step = [&](bool prefill, int pos) {
      for (int s = 0; s < B; ++s) {
        di_step_seq& it = items[static_cast<size_t>(s)];
        std::memset(&it, 0, sizeof(it));
        di_sampling_params_init(&it.sampling);
        auto& tk = toks[static_cast<size_t>(s)];
        it.token_ids = prefill ? tk.data() : &tk.back();
        it.num_tokens = prefill ? 16 : 1;
        it.start_pos = prefill ? 0 : pos;
        it.block_table = blocks[static_cast<size_t>(s)].data();
        it.num_blocks = per_seq_blocks;
        it.sample = 1;
      }
      di_step_input in{items.data(), B};
      di_step_output out{outs.data(), nullptr};
      if (di_engine_step(e, &in, &out, err, sizeof(err)) != 0) {
        std::fprintf(stderr, "error: %s\n", err);
        std::exit(1);
      }
      for (int s = 0; s < B; ++s) toks[static_cast<size_t>(s)].push_back(outs[static_cast<size_t>(s)].token_id);
    };
    step(true, 0);
    step(false, 16);  // warm-up decode step
    auto t1 = Clock::now();
    for (int i = 0; i < decode_steps; ++i) step(false, 17 + i);
    const double dt = secs(t1);
    row->decode[bi] = B * decode_steps / dt;
    std::fprintf(stderr, "[bench] %s decode batch %d: %.1f tok/s (%.2f ms/step)\n", label.c_str(), B, row->decode[bi],
                 dt * 1e3 / decode_steps);
  }

  // Prefill of a 512-token prompt as one step (best of 3).
  std::vector<int32_t> prompt(512), blocks(512 / 16);
  for (int i = 0; i < 512; ++i) prompt[static_cast<size_t>(i)] = (i * 7919 + 1) % V;
  for (int i = 0; i < 512 / 16; ++i) blocks[static_cast<size_t>(i)] = i;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    di_step_seq it;
    std::memset(&it, 0, sizeof(it));
    di_sampling_params_init(&it.sampling);
    it.token_ids = prompt.data();
    it.num_tokens = 512;
    it.block_table = blocks.data();
    it.num_blocks = 512 / 16;
    it.sample = 1;
    di_seq_output so;
    di_step_input in{&it, 1};
    di_step_output out{&so, nullptr};
    auto t1 = Clock::now();
    if (di_engine_step(e, &in, &out, err, sizeof(err)) != 0) {
      std::fprintf(stderr, "error: %s\n", err);
      std::exit(1);
    }
    best = std::max(best, 512 / secs(t1));
  }
  row->prefill = best;
  std::fprintf(stderr, "[bench] %s prefill 512: %.1f tok/s\n", label.c_str(), best);
  di_engine_free(e);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  int decode_steps = 32;
  bool with_110m = true;
  std::vector<std::string> extra;
  std::string models_dir = DEEPINFER_MODELS_DIR;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--decode-steps" && i + 1 < argc) decode_steps = std::atoi(argv[++i]);
    else if (a == "--model" && i + 1 < argc) extra.push_back(argv[++i]);
    else if (a == "--no-110m") with_110m = false;
    else {
      std::fprintf(stderr, "usage: deepinfer-bench [--threads N] [--decode-steps N] [--model DIR]... [--no-110m]\n");
      return 2;
    }
  }
  std::fprintf(stderr, "[bench] kernels %s, %d threads\n", di_cpu_kernel_path(), threads);
  std::fprintf(stderr, "[bench] measuring memory bandwidth (1 GiB streaming read, %d threads) ...\n", threads);
  const double bw = measure_bandwidth(threads);
  std::fprintf(stderr, "[bench] bandwidth %.1f GB/s\n", bw / 1e9);

  std::vector<Row> rows;
  Row r;
  if (bench_model("stories260k", models_dir + "/stories260k", threads, decode_steps * 4, &r)) rows.push_back(r);
  for (const auto& m : extra) {
    Row x;
    if (bench_model(m, m, threads, decode_steps, &x)) rows.push_back(x);
  }
  if (with_110m) {
    char tmpl[] = "/tmp/deepinfer-bench-110m-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    if (dir == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    std::fprintf(stderr, "[bench] writing random stories110M-shape model to %s ...\n", dir);
    make_110m(dir);
    Row x;
    if (bench_model("random-110M (stories110M shape)", dir, threads, decode_steps, &x)) rows.push_back(x);
    std::remove((std::string(dir) + "/model.safetensors").c_str());
    std::remove((std::string(dir) + "/config.json").c_str());
    ::rmdir(dir);
  }

  std::printf("\nkernels: %s, threads: %d, memory bandwidth (streaming read): %.1f GB/s\n\n", di_cpu_kernel_path(), threads,
              bw / 1e9);
  std::printf("| model | weights read/step | batch-1 roofline | decode b=1 | b=8 | b=32 | b=64 | b=1 %% of roofline | b=32 / b=1 | prefill 512 |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& x : rows) {
    const double roof = bw / x.bytes_per_step;
    std::printf("| %s | %.1f MB | %.0f tok/s | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.1fx | %.1f |\n", x.model.c_str(),
                x.bytes_per_step / 1e6, roof, x.decode[0], x.decode[1], x.decode[2], x.decode[3],
                100.0 * x.decode[0] / roof, x.decode[2] / x.decode[0], x.prefill);
  }
  std::printf("\n(all figures tokens/s; decode = sampled tokens of all sequences per second, greedy, contexts of 17-%d tokens)\n",
              17 + decode_steps);
  return 0;
}
