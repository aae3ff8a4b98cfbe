// A fixed pool of worker threads for fork-join parallel loops. The calling thread takes part
// as worker 0, so a pool of size n starts n-1 threads.
//
// The forward pass runs one region per step and synchronises its phases with barrier();
// dispatch latency still matters for small steps: workers spin on a generation counter for
// a short while after each region and only then sleep on a condition variable (so an idle
// engine costs no CPU).
#pragma once

#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace deepinfer {
namespace cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // <= 0: all online cores
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Runs f(i) for every i in [0, size()) (i = 0 on the calling thread) and returns when all
  // have finished. Not reentrant: f must not call run().
  template <class F>
  void run(F&& f) {
    run_raw([](void* ctx, int i) { (*static_cast<F*>(ctx))(i); }, &f);
  }

  // Splits [0, n) into contiguous ranges, f(begin, end) per range. `work` is the total cost in
  // multiply-adds: a region too small to repay a fork-join (a few microseconds, far worse
  // when the machine is oversubscribed and a worker is descheduled) runs on the calling
  // thread alone. How work is split never changes results (see kernels.h).
  template <class F>
  void parallel_for(int64_t n, F&& f, int64_t work = INT64_MAX) {
    parallel_for_indexed(n, [&](int, int64_t b, int64_t e) { f(b, e); }, work);
  }

  // Same, f(thread_index, begin, end): for per-thread scratch.
  template <class F>
  void parallel_for_indexed(int64_t n, F&& f, int64_t work = INT64_MAX) {
    int64_t want = work / kMinWorkPerThread;
    if (want > n) want = n;
    if (want <= 1 || num_threads_ == 1) {
      if (n > 0) f(0, int64_t{0}, n);
      return;
    }
    const int nt = num_threads_;
    run([&](int i) {
      const int64_t b = n * i / nt, e = n * (i + 1) / nt;
      if (b < e) f(i, b, e);
    });
  }

  static constexpr int64_t kMinWorkPerThread = 1 << 16;

  // Inside a run(): returns once all size() threads of the run have called it (a spin barrier
  // that falls back to sched_yield, so a descheduled peer gets the core back). Each call is
  // a full memory fence between the phases before and after it. Much cheaper than ending
  // the run and starting another (one rendezvous instead of a wake-up plus a join), which is
  // how the forward pass runs a whole step in one run().
  void barrier();

 private:
  using Task = void (*)(void*, int);
  void run_raw(Task task, void* ctx);
  void worker(int index);

  int num_threads_;
  std::vector<std::thread> threads_;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped once per run(); workers wait for a change
  std::atomic<int> num_done_{0};         // workers (not the caller) finished with this run
  std::atomic<int> num_sleepers_{0};     // changed only under mutex_
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<int> bar_count_{0};
  alignas(64) std::atomic<uint32_t> bar_gen_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace cpu
}  // namespace deepinfer
