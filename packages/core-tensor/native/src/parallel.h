// Splitting work across the cores with the backend's own thread pool (parallel.cc).
//
// Why not OpenMP: an OpenMP region ends in a barrier that waits for every thread, so when the
// machine is oversubscribed (other processes, two Nx tasks) each kernel waits for a descheduled
// worker's next time slice, milliseconds per op. Here the calling thread claims chunks from a
// shared counter too, and only waits for chunks a worker has actually started.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace difflab {

int numThreads();

// Below this much work (elements x cost) a kernel stays on the calling thread.
constexpr int64_t kParallelGrain = 1 << 15;

// Runs chunk(i) for i in [0, chunks) on the pool and the calling thread; returns when all are done.
void runChunks(int64_t chunks, const std::function<void(int64_t)>& chunk);

// Calls fn(begin, end) on disjoint ranges covering [0, n). By default a few chunks per thread, so
// a worker that starts late leaves its share to the others; chunksPerThread = 1 suits work with a
// per-chunk setup cost (GEMM packs its operands per call).
template <class Fn>
void parallelFor(int64_t n, int64_t workPerItem, Fn fn, int chunksPerThread = 4) {
  const int threads = numThreads();
  if (threads <= 1 || n < 2 || n * workPerItem < kParallelGrain) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(n, static_cast<int64_t>(threads) * chunksPerThread);
  runChunks(chunks, [&](int64_t c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace difflab
