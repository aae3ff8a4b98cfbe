#include "backends/cpu/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DI_PAUSE() _mm_pause()
#else
#define DI_PAUSE() std::this_thread::yield()
#endif

namespace deepinfer {
namespace cpu {

namespace {
// About 50-100 us of spinning before sleeping: longer than the gap between two parallel
// regions of a forward pass, much shorter than the gap between steps.
constexpr int kSpinIterations = 20000;
// A few microseconds of spinning, then sched_yield() between checks.
constexpr int kSpinBeforeYield = 2000;
// Barriers inside a step spin as long before yielding (a shorter spin, 200, measured no
// better on the loaded 2-vCPU machine; the comparison was within the noise).
constexpr int kBarrierSpinBeforeYield = kSpinBeforeYield;
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::thread::hardware_concurrency());
  if (num_threads <= 0) num_threads = 1;
  num_threads_ = num_threads;
  for (int i = 1; i < num_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run_raw(Task task, void* ctx) {
  if (num_threads_ == 1) {
    task(ctx, 0);
    return;
  }
  task_ = task;
  ctx_ = ctx;
  num_done_.store(0, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: pairs with the sleeper check below (no lost wake-up)
  if (num_sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lk(mutex_);
    cv_.notify_all();
  }
  task(ctx, 0);
  // Spin for the stragglers, but yield once it takes long: on an oversubscribed machine the
  // worker we wait for may be descheduled, and pure spinning would keep it off the core.
  int spins = 0;
  while (num_done_.load(std::memory_order_acquire) != num_threads_ - 1) {
    if (++spins < kSpinBeforeYield) {
      DI_PAUSE();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::barrier() {
  if (num_threads_ == 1) return;
  const uint32_t g = bar_gen_.load(std::memory_order_acquire);
  if (bar_count_.fetch_add(1, std::memory_order_acq_rel) == num_threads_ - 1) {
    bar_count_.store(0, std::memory_order_relaxed);
    bar_gen_.store(g + 1, std::memory_order_release);
    return;
  }
  int spins = 0;
  while (bar_gen_.load(std::memory_order_acquire) == g) {
    if (++spins < kBarrierSpinBeforeYield) {
      DI_PAUSE();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g;
    int spins = 0;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        if (spins < kSpinBeforeYield) {
          DI_PAUSE();
        } else {
          std::this_thread::yield();
        }
        continue;
      }
      std::unique_lock<std::mutex> lk(mutex_);
      num_sleepers_.fetch_add(1);
      cv_.wait(lk, [&] { return generation_.load() != seen; });
      num_sleepers_.fetch_sub(1);
    }
    seen = g;
    if (stop_.load()) return;
    task_(ctx_, index);
    num_done_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace cpu
}  // namespace deepinfer
