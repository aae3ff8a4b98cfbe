// A minimal test harness (no external framework is available offline) plus engine helpers.
// Each test binary registers TEST()s, runs them all, prints one line per test, and exits
// non-zero when any check failed; ctest runs each binary.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "deepinfer/engine.h"

namespace ditest {

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}
inline int& failures() {
  static int f = 0;
  return f;
}
struct Registrar {
  Registrar(const char* n, void (*f)()) { registry().push_back({n, f}); }
};

inline int run_all(int argc, char** argv) {
  int failed_tests = 0;
  for (const auto& t : registry()) {
    if (argc > 1 && std::strstr(t.name, argv[1]) == nullptr) continue;
    const int before = failures();
    t.fn();
    const bool ok = failures() == before;
    std::printf("[%s] %s\n", ok ? " OK " : "FAIL", t.name);
    std::fflush(stdout);
    if (!ok) ++failed_tests;
  }
  std::printf("%d test(s) failed\n", failed_tests);
  return failed_tests == 0 ? 0 : 1;
}

}  // namespace ditest

#define TEST(name)                                              \
  static void name();                                           \
  static ::ditest::Registrar registrar_##name(#name, &name);    \
  static void name()

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);        \
      ++::ditest::failures();                                                       \
    }                                                                               \
  } while (0)

#define CHECK_MSG(cond, ...)                                                        \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::printf("  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);        \
      std::printf(__VA_ARGS__);                                                     \
      std::printf("\n");                                                            \
      ++::ditest::failures();                                                       \
    }                                                                               \
  } while (0)

#define CHECK_EQ(a, b) CHECK_MSG((a) == (b), "%s != %s", std::to_string(a).c_str(), std::to_string(b).c_str())

#define TEST_MAIN() \
  int main(int argc, char** argv) { return ::ditest::run_all(argc, argv); }

namespace ditest {

inline std::string fixtures_dir() { return DEEPINFER_FIXTURES_DIR; }
inline std::string models_dir() { return DEEPINFER_MODELS_DIR; }

// Creates an engine or fails the test (returns nullptr).
inline di_engine* make_engine(const std::string& model, int threads = 2, int num_blocks = 256, int block_size = 16,
                              int max_tokens = 512, uint64_t seed = 0) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = model.c_str();
  c.num_threads = threads;
  c.num_kv_blocks = num_blocks;
  c.block_size = block_size;
  c.max_num_batched_tokens = max_tokens;
  c.seed = seed;
  char err[1024];
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  CHECK_MSG(e != nullptr, "create %s: %s", model.c_str(), err);
  return e;
}

// Creates an engine from `c`, or returns NULL with the engine's message in *error.
inline di_engine* create_engine(const di_engine_config& c, std::string* error) {
  char err[1024] = {0};
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  if (error != nullptr) *error = err;
  return e;
}

// Expects creation to fail with a message containing `needle`.
inline void expect_create_error(const std::string& model, const std::string& needle) {
  di_engine_config c;
  di_engine_config_init(&c);
  c.model = model.c_str();
  c.num_threads = 1;
  c.num_kv_blocks = 4;
  char err[1024] = {0};
  di_engine* e = di_engine_create(&c, err, sizeof(err));
  CHECK_MSG(e == nullptr, "expected an error containing \"%s\" for %s", needle.c_str(), model.c_str());
  if (e != nullptr) {
    di_engine_free(e);
    return;
  }
  CHECK_MSG(std::strstr(err, needle.c_str()) != nullptr, "error \"%s\" does not contain \"%s\"", err, needle.c_str());
}

// A sequence driven by hand: its tokens, blocks and sampling params.
struct Seq {
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  std::vector<int32_t> blocks;
  int32_t computed = 0;  // tokens already in the KV cache
  di_sampling_params sp;
  Seq() { di_sampling_params_init(&sp); }
  std::vector<int32_t> all() const {
    std::vector<int32_t> a = prompt;
    a.insert(a.end(), output.begin(), output.end());
    return a;
  }
};

// Builds the step item that runs the next `n` tokens of `s` (prompt first, then output).
inline di_step_seq step_item(Seq& s, int n, const std::vector<int32_t>& all_tokens) {
  di_step_seq it;
  std::memset(&it, 0, sizeof(it));
  it.token_ids = all_tokens.data() + s.computed;
  it.num_tokens = n;
  it.start_pos = s.computed;
  it.block_table = s.blocks.data();
  it.num_blocks = static_cast<int32_t>(s.blocks.size());
  it.sample = (s.computed + n == static_cast<int32_t>(all_tokens.size())) ? 1 : 0;
  it.sampling = s.sp;
  it.prompt_ids = s.prompt.data();
  it.num_prompt_ids = static_cast<int32_t>(s.prompt.size());
  it.output_ids = s.output.data();
  it.num_output_ids = static_cast<int32_t>(s.output.size());
  return it;
}

// Runs one step over `items`; returns false (and fails the test) on error.
inline bool run_step(di_engine* e, std::vector<di_step_seq>& items, std::vector<di_seq_output>* outs,
                     float* logits = nullptr) {
  outs->assign(items.size(), di_seq_output());
  di_step_input in{items.data(), static_cast<int32_t>(items.size()), nullptr, nullptr};
  di_step_output out{outs->data(), logits, 0};
  char err[1024];
  const int rc = di_engine_step(e, &in, &out, err, sizeof(err));
  CHECK_MSG(rc == 0, "step failed: %s", err);
  return rc == 0;
}

// Generates `n` tokens for one sequence alone: prefill in chunks of `chunk` (0 = whole
// prompt), then one decode token per step. Blocks [first_block, ...).
inline std::vector<int32_t> generate(di_engine* e, const std::vector<int32_t>& prompt, int n, int chunk = 0,
                                     int first_block = 0, int block_size = 16,
                                     const di_sampling_params* sp = nullptr) {
  Seq s;
  s.prompt = prompt;
  if (sp != nullptr) s.sp = *sp;
  const int total = static_cast<int>(prompt.size()) + n;
  for (int i = 0; i < (total + block_size - 1) / block_size; ++i) s.blocks.push_back(first_block + i);
  while (static_cast<int>(s.output.size()) < n) {
    std::vector<int32_t> all = s.all();
    const int remaining = static_cast<int>(all.size()) - s.computed;
    const int take = (chunk > 0 && remaining > chunk) ? chunk : remaining;
    std::vector<di_step_seq> items{step_item(s, take, all)};
    std::vector<di_seq_output> outs;
    if (!run_step(e, items, &outs)) break;
    s.computed += take;
    if (outs[0].sampled) s.output.push_back(outs[0].token_id);
  }
  return s.output;
}

inline std::vector<int32_t> read_ids(const std::string& path) {
  std::vector<int32_t> ids;
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return ids;
  int v;
  while (std::fscanf(f, "%d", &v) == 1) ids.push_back(v);
  std::fclose(f);
  return ids;
}

}  // namespace ditest
