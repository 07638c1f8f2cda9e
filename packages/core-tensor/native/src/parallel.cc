#include "parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels.h"

namespace difflab {

namespace {

thread_local bool inWorker = false;

struct Job {
  const std::function<void(int64_t)>* chunk;
  int64_t chunks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
};

// Claims and runs chunks of `job` until none are left.
void work(Job* job) {
  for (;;) {
    const int64_t i = job->next.fetch_add(1);
    if (i >= job->chunks) return;
    (*job->chunk)(i);
    job->done.fetch_add(1, std::memory_order_release);
  }
}

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return static_cast<int>(threads_.size()); }

  void run(int64_t chunks, const std::function<void(int64_t)>& chunk) {
    // One job at a time: a second caller (another JS thread) runs its chunks itself.
    std::unique_lock<std::mutex> exclusive(runMutex_, std::try_to_lock);
    if (!exclusive.owns_lock()) {
      for (int64_t i = 0; i < chunks; ++i) chunk(i);
      return;
    }
    Job job;
    job.chunk = &chunk;
    job.chunks = chunks;
    bool anyAsleep;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current_.store(&job);
      ++generation_;
      generationAtomic_.store(generation_, std::memory_order_release);
      anyAsleep = sleeping_ > 0;
    }
    if (anyAsleep) wake_.notify_all();
    work(&job);
    while (job.done.load(std::memory_order_acquire) < chunks) std::this_thread::yield();
    // Unpublish, then wait out any worker that picked up the pointer but has not let go of it.
    current_.store(nullptr);
    while (inside_.load() != 0) std::this_thread::yield();
  }

 private:
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin briefly for the next job (kernels come in bursts), then sleep.
      const auto spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
      while (generationAtomic_.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < spinUntil) {
      }
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleeping_;
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        --sleeping_;
        if (stop_) return;
        seen = generation_;
      }
      inside_.fetch_add(1);
      Job* job = current_.load();
      if (job) {
        inWorker = true;
        work(job);
        inWorker = false;
      }
      inside_.fetch_sub(1);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::mutex runMutex_;
  bool stop_ = false;
  int sleeping_ = 0;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> generationAtomic_{0};
  std::atomic<Job*> current_{nullptr};
  std::atomic<int> inside_{0};
};

std::mutex gPoolMutex;
Pool* gPool = nullptr;

}  // namespace

void runChunks(int64_t chunks, const std::function<void(int64_t)>& chunk) {
  if (inWorker) {  // nested parallelism runs serially inside the outer chunk
    for (int64_t i = 0; i < chunks; ++i) chunk(i);
    return;
  }
  Pool* pool;
  {
    std::lock_guard<std::mutex> lock(gPoolMutex);
    const int workers = numThreads() - 1;
    if (!gPool || gPool->size() != workers) {
      delete gPool;
      gPool = workers > 0 ? new Pool(workers) : nullptr;
    }
    pool = gPool;
  }
  if (!pool) {
    for (int64_t i = 0; i < chunks; ++i) chunk(i);
    return;
  }
  pool->run(chunks, chunk);
}

}  // namespace difflab
