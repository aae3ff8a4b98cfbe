// deepinfer-bench: throughput of the CPU engine (not a test).
//
// Prints a table with decode tokens/s at batch 1, 8, 32, 64 and prefill tokens/s for a
// 512-token prompt, for the bundled stories260k model and for a random-weight model of the
// llama2.c stories110M shape (dim 768, 12 layers, 12 heads, MLP 2048, vocab 32000, context
// 1024, f32, tied embeddings) generated at run time into a temporary directory. It also
// measures this machine's memory bandwidth (multi-threaded streaming read) and prints the
// batch-1 decode roofline: bandwidth / bytes of weights read per token. Every figure is the
// best of --repeat rounds (default 3). --kernels prints kernel-only GEMV/GEMM figures.
// --kv-cache-dtype float32|fp8 picks the KV cache (as the kv_cache_dtype setting); --context N
// prefills N tokens per sequence before the timed decode steps (default 16), so the KV cache's
// share of each step can be raised.
//
//   deepinfer-bench [--threads N] [--model DIR]... [--no-110m] [--no-260k] [--decode-steps N]
//                   [--repeat R] [--no-bandwidth] [--kernels] [--kv-cache-dtype T] [--context N]
//                   [--max-batch N]
#include <unistd.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
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
#include "settings_env.h"

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// Memory bandwidth: a streaming read of a 1 GiB buffer (>> L3) by `threads` persistent
// threads that start each pass together (spin barrier), every thread first-touching and then
// reading its own slice. Each thread walks its slice in 48 KiB windows read as 4 concurrent
// streams 12 KiB apart, 8 independent AVX2 accumulators: the access pattern of the engine's
// batch-1 GEMV (4 adjacent weight panels at once). Measured on the 2-vCPU EPYC, that pattern
// reads ~20-30% faster than one sequential stream per thread or 4 streams spread 256 MiB
// apart (more misses in flight than one stream, DRAM-page locality the far streams lose),
// which is why the earlier single-stream test under-read. Each pass reads one 256 MiB
// quarter of the buffer (rotating, so nothing is left in the 32 MiB L3): 32 short passes
// catch the quiet moments of a shared machine the way a ~10 ms decode step does. Best pass,
// in bytes/s.
#if defined(__x86_64__)
__attribute__((target("avx2"))) float read_streams(const float* p, size_t n) {
  constexpr size_t kGap = 3072, kWin = 4 * kGap;  // floats
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  size_t w = 0;
  for (; w + kWin <= n; w += kWin) {
    const float* s0 = p + w;
    const float* s1 = s0 + kGap;
    const float* s2 = s1 + kGap;
    const float* s3 = s2 + kGap;
    for (size_t i = 0; i < kGap; i += 16) {
      a0 = _mm256_add_ps(a0, _mm256_load_ps(s0 + i));
      a1 = _mm256_add_ps(a1, _mm256_load_ps(s0 + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_load_ps(s1 + i));
      a3 = _mm256_add_ps(a3, _mm256_load_ps(s1 + i + 8));
      a4 = _mm256_add_ps(a4, _mm256_load_ps(s2 + i));
      a5 = _mm256_add_ps(a5, _mm256_load_ps(s2 + i + 8));
      a6 = _mm256_add_ps(a6, _mm256_load_ps(s3 + i));
      a7 = _mm256_add_ps(a7, _mm256_load_ps(s3 + i + 8));
    }
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  float r = 0;
  for (float x : t) r += x;
  for (size_t i = w; i < n; ++i) r += p[i];
  return r;
}
bool have_avx2() { return __builtin_cpu_supports("avx2"); }
#else
float read_streams(const float*, size_t) { return 0; }
bool have_avx2() { return false; }
#endif

float read_plain(const float* p, size_t n) {
  float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] += p[i + static_cast<size_t>(j)];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

double measure_bandwidth(int threads, int passes = 32) {
  const size_t n = (1ull << 30) / sizeof(float);
  float* buf = nullptr;
  if (posix_memalign(reinterpret_cast<void**>(&buf), 64, n * sizeof(float)) != 0) return 0;
  const bool avx2 = have_avx2();
  std::atomic<int> gen{0}, arrived{0};
  std::vector<double> start_ns(static_cast<size_t>(passes)), end_ns(static_cast<size_t>(passes) * threads);
  std::vector<float> sink(static_cast<size_t>(threads));
  const auto epoch = Clock::now();
  auto ns = [&] { return std::chrono::duration<double, std::nano>(Clock::now() - epoch).count(); };
  auto body = [&](int t) {
    const size_t b = (n * t / threads) & ~size_t{15}, e = t + 1 == threads ? n : (n * (t + 1) / threads) & ~size_t{15};
    for (size_t i = b; i < e; ++i) buf[i] = static_cast<float>(i & 7);  // first touch by the reader
    for (int pass = 0; pass < passes; ++pass) {
      // All threads wait here, then thread 0 records the start and releases them together.
      arrived.fetch_add(1);
      if (t == 0) {
        while (arrived.load() != threads) {
        }
        arrived.store(0);
        start_ns[static_cast<size_t>(pass)] = ns();
        gen.store(pass + 1);
      } else {
        while (gen.load() != pass + 1) {
        }
      }
      const size_t q = ((e - b) / 4) & ~size_t{15}, qb = b + q * static_cast<size_t>(pass % 4);
      sink[static_cast<size_t>(t)] += avx2 ? read_streams(buf + qb, q) : read_plain(buf + qb, q);
      end_ns[static_cast<size_t>(pass) * threads + t] = ns();
    }
  };
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) ts.emplace_back(body, t);
  body(0);
  for (auto& t : ts) t.join();
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    double last = 0;
    for (int t = 0; t < threads; ++t) last = std::max(last, end_ns[static_cast<size_t>(pass) * threads + t]);
    best = std::max(best, n / 4 * sizeof(float) / ((last - start_ns[static_cast<size_t>(pass)]) * 1e-9));
  }
  if (sink[0] == -1) std::printf(" ");
  std::free(buf);
  return best;
}

// Kernel-only figures (--kernels): the matmul of the kernel table on packed random weights,
// outside the engine, so they isolate the kernels from fork-join and the rest of a step.
//  - GEMV (T=1) of the lm_head shape (32000 x 768, 98 MB: out of cache), 1 and N threads: GB/s.
//  - GEMM T=512 (prefill) and T=32 (batched decode) on the wqkv shape (2304 x 768) and the
//    w_down shape (768 x 2048), 1 thread: GFLOP/s.
void bench_kernels(int threads) {
  using deepinfer::cpu::kPanel;
  using deepinfer::cpu::PackedMatrix;
  const auto& k = deepinfer::cpu::kernels();
  auto make = [](int n, int kk) {
    PackedMatrix m;
    m.n = n;
    m.k = kk;
    const size_t sz = static_cast<size_t>(m.num_panels()) * kk * kPanel;
    if (posix_memalign(reinterpret_cast<void**>(&m.data), 64, sz * sizeof(float)) != 0) std::exit(1);
    for (size_t i = 0; i < sz; ++i) m.data[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return m;
  };
  auto run_split = [&](int nthr, const float* A, int T, const PackedMatrix& W, float* C) {
    const int np = W.num_panels();
    std::vector<std::thread> ts;
    for (int t = 1; t < nthr; ++t)
      ts.emplace_back([&, t] { k.matmul(A, W.k, T, W, np * t / nthr, np * (t + 1) / nthr, C, W.n, false); });
    k.matmul(A, W.k, T, W, 0, np / nthr, C, W.n, false);
    for (auto& t : ts) t.join();
  };
  std::vector<float> A(static_cast<size_t>(512) * 2048, 0.01f), C(static_cast<size_t>(512) * 32000);
  {
    PackedMatrix W = make(32000, 768);
    const double bytes = static_cast<double>(W.num_panels()) * W.k * kPanel * 4;
    for (int nthr : {1, threads}) {
      double best = 0;
      for (int rep = 0; rep < 7; ++rep) {
        auto t0 = Clock::now();
        run_split(nthr, A.data(), 1, W, C.data());
        best = std::max(best, bytes / secs(t0));
      }
      std::printf("kernel GEMV T=1 32000x768 (98 MB), %d thread(s): %.1f GB/s\n", nthr, best / 1e9);
    }
    std::free(W.data);
  }
  for (auto nk : {std::pair<int, int>{2304, 768}, std::pair<int, int>{768, 2048}}) {
    PackedMatrix W = make(nk.first, nk.second);
    for (int T : {512, 32}) {
      double best = 0;
      for (int rep = 0; rep < 5; ++rep) {
        auto t0 = Clock::now();
        k.matmul(A.data(), W.k, T, W, 0, W.num_panels(), C.data(), W.n, false);
        best = std::max(best, 2.0 * T * W.n * W.k / secs(t0));
      }
      std::printf("kernel GEMM T=%d N=%d K=%d, 1 thread: %.1f GFLOP/s\n", T, W.n, W.k, best / 1e9);
    }
    std::free(W.data);
  }
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

int repeat = 3;  // --repeat
const char* kv_cache_dtype = nullptr;  // --kv-cache-dtype (null: the env / the backend's)
int context = 16;                      // --context: prompt tokens per sequence
int max_batch = 64;                    // --max-batch: batch sizes above it are skipped (0 in the table)

bool bench_model(const std::string& label, const std::string& dir, int threads, int decode_steps, Row* row) {
  di_engine_config c;
  di_engine_config_init(&c);
  deepinfer_tools::apply_settings_env(&c);
  if (kv_cache_dtype != nullptr) c.kv_cache_dtype = kv_cache_dtype;
  c.model = dir.c_str();
  c.num_threads = threads;
  c.block_size = 16;
  // 64 sequences x (context prompt + decode) tokens, and one 512-token prompt.
  const int per_seq_blocks = (context + decode_steps + 2 + 15) / 16;
  c.num_kv_blocks = std::max(64 * per_seq_blocks, 512 / 16 + 1);
  c.max_num_batched_tokens = std::max(1024, 64 * context);
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
  std::fprintf(stderr, "[bench] loaded in %.2f s (%s, %.1f MB of weights per step, KV cache %s)\n", secs(t0),
               info.backend, info.weight_bytes_per_step / 1e6, info.kv_cache_dtype);
  row->model = label;
  row->bytes_per_step = static_cast<double>(info.weight_bytes_per_step);
  const int V = info.vocab_size;

  for (int bi = 0; bi < 4; ++bi) {
    const int B = kBatches[bi];
    if (B > max_batch) continue;
    std::vector<std::vector<int32_t>> blocks(static_cast<size_t>(B)), toks(static_cast<size_t>(B));
    for (int s = 0; s < B; ++s) {
      for (int j = 0; j < per_seq_blocks; ++j) blocks[static_cast<size_t>(s)].push_back(s * per_seq_blocks + j);
      for (int j = 0; j < context; ++j) toks[static_cast<size_t>(s)].push_back((s * 131 + j * 17 + 3) % V);
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
        it.num_tokens = prefill ? context : 1;
        it.start_pos = prefill ? 0 : pos;
        it.block_table = blocks[static_cast<size_t>(s)].data();
        it.num_blocks = per_seq_blocks;
        it.sample = 1;
      }
      di_step_input in{items.data(), B, nullptr, nullptr};
      di_step_output out{outs.data(), nullptr, 0};
      if (di_engine_step(e, &in, &out, err, sizeof(err)) != 0) {
        std::fprintf(stderr, "error: %s\n", err);
        std::exit(1);
      }
      for (int s = 0; s < B; ++s) toks[static_cast<size_t>(s)].push_back(outs[static_cast<size_t>(s)].token_id);
    };
    // `repeat` rounds of (prefill, warm-up step, decode_steps timed steps) over the same
    // contexts; the best round counts (on a shared machine the others measure the load).
    double dt = 1e30;
    for (int round = 0; round < repeat; ++round) {
      for (auto& tk : toks) tk.resize(static_cast<size_t>(context));
      step(true, 0);
      step(false, context);  // warm-up decode step
      auto t1 = Clock::now();
      for (int i = 0; i < decode_steps; ++i) step(false, context + 1 + i);
      dt = std::min(dt, secs(t1));
    }
    row->decode[bi] = B * decode_steps / dt;
    std::fprintf(stderr, "[bench] %s decode batch %d: %.1f tok/s (%.3f ms/step, best of %d)\n", label.c_str(), B,
                 row->decode[bi], dt * 1e3 / decode_steps, repeat);
  }

  // Prefill of a 512-token prompt as one step (best of `repeat`).
  std::vector<int32_t> prompt(512), blocks(512 / 16);
  for (int i = 0; i < 512; ++i) prompt[static_cast<size_t>(i)] = (i * 7919 + 1) % V;
  for (int i = 0; i < 512 / 16; ++i) blocks[static_cast<size_t>(i)] = i;
  double best = 0;
  for (int rep = 0; rep < repeat; ++rep) {
    di_step_seq it;
    std::memset(&it, 0, sizeof(it));
    di_sampling_params_init(&it.sampling);
    it.token_ids = prompt.data();
    it.num_tokens = 512;
    it.block_table = blocks.data();
    it.num_blocks = 512 / 16;
    it.sample = 1;
    di_seq_output so;
    di_step_input in{&it, 1, nullptr, nullptr};
    di_step_output out{&so, nullptr, 0};
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
  bool kernels_only = false, with_bandwidth = true, with_260k = true;
  std::vector<std::string> extra;
  std::string models_dir = DEEPINFER_MODELS_DIR;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--decode-steps" && i + 1 < argc) decode_steps = std::atoi(argv[++i]);
    else if (a == "--model" && i + 1 < argc) extra.push_back(argv[++i]);
    else if (a == "--no-110m") with_110m = false;
    else if (a == "--no-260k") with_260k = false;
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else if (a == "--no-bandwidth") with_bandwidth = false;
    else if (a == "--kernels") kernels_only = true;
    else if (a == "--kv-cache-dtype" && i + 1 < argc) kv_cache_dtype = argv[++i];
    else if (a == "--context" && i + 1 < argc) context = std::max(1, std::atoi(argv[++i]));
    else if (a == "--max-batch" && i + 1 < argc) max_batch = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr,
                   "usage: deepinfer-bench [--threads N] [--decode-steps N] [--model DIR]... [--no-110m] [--no-260k]\n"
                   "                       [--no-bandwidth] [--kernels] [--repeat R] [--kv-cache-dtype T] [--context N]\n"
                   "  --kv-cache-dtype T  float32 or fp8 (the kv_cache_dtype setting)\n"
                   "  --context N     prompt tokens per sequence before the timed decode steps (default 16)\n"
                   "  --max-batch N   skip decode batch sizes above N (long contexts take long to prefill)\n"
                   "  --repeat R      best of R rounds for every decode and prefill figure (default 3)\n"
                   "  --kernels       only the bandwidth test and kernel-only GEMV/GEMM figures\n"
                   "  --no-bandwidth  skip the 1 GiB bandwidth test (roofline columns then read 0)\n");
      return 2;
    }
  }
  std::fprintf(stderr, "[bench] kernels %s, %d threads\n", di_cpu_kernel_path(), threads);
  if (with_bandwidth) std::fprintf(stderr, "[bench] measuring memory bandwidth (1 GiB streaming read, %d threads) ...\n", threads);
  // The roofline uses the best of the N-thread and the 1-thread test: on a loaded machine
  // two threads rarely both hold a core for a whole pass, and the engine's GEMV can reach
  // whatever either test reaches.
  const double bw_n = with_bandwidth ? measure_bandwidth(threads) : 0.0;
  const double bw_1 = with_bandwidth && threads > 1 ? measure_bandwidth(1) : 0.0;
  const double bw = std::max(bw_n, bw_1);
  std::fprintf(stderr, "[bench] bandwidth %.1f GB/s (%d threads), %.1f GB/s (1 thread)\n", bw_n / 1e9, threads, bw_1 / 1e9);
  if (kernels_only) {
    std::printf("kernels: %s, memory bandwidth (streaming read, best of %d and 1 threads): %.1f GB/s\n", di_cpu_kernel_path(), threads,
                bw / 1e9);
    bench_kernels(threads);
    return 0;
  }

  std::vector<Row> rows;
  Row r;
  if (with_260k && bench_model("stories260k", models_dir + "/stories260k", threads, decode_steps * 4, &r)) rows.push_back(r);
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

  std::printf("\nkernels: %s, threads: %d, memory bandwidth (streaming read, best of %d and 1 threads): %.1f GB/s\n\n", di_cpu_kernel_path(), threads, threads,
              bw / 1e9);
  std::printf("| model | weights read/step | batch-1 roofline | decode b=1 | b=8 | b=32 | b=64 | b=1 %% of roofline | b=32 / b=1 | prefill 512 |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& x : rows) {
    const double roof = bw / x.bytes_per_step;
    std::printf("| %s | %.1f MB | %.0f tok/s | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.1fx | %.1f |\n", x.model.c_str(),
                x.bytes_per_step / 1e6, roof, x.decode[0], x.decode[1], x.decode[2], x.decode[3],
                100.0 * x.decode[0] / roof, x.decode[2] / x.decode[0], x.prefill);
  }
  std::printf("\n(all figures tokens/s; decode = sampled tokens of all sequences per second, greedy, contexts of %d-%d tokens, KV cache %s)\n",
              context + 1, context + 1 + decode_steps, kv_cache_dtype != nullptr ? kv_cache_dtype : "auto");
  return 0;
}
