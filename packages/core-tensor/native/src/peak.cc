// The machine's practical fp32 peak: independent fused multiply-adds on the widest vectors the
// compiler targets, on each thread, for a fixed time. The GEMM benchmark reports against it.
#include <chrono>

#include "kernels.h"

#include <thread>
#include <vector>

namespace difflab {

namespace {
constexpr int kLanes = 16;
constexpr int kChains = 12;  // enough independent chains to hide FMA latency
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

double fmaLoop(double seconds, float seed) {
  Vec acc[kChains];
  Vec mul, add;
  for (int l = 0; l < kLanes; ++l) {
    mul[l] = 0.999999f;
    add[l] = seed * 1e-7f;
  }
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < kLanes; ++l) acc[c][l] = seed + static_cast<float>(c + l);
  }
  const auto start = std::chrono::steady_clock::now();
  int64_t iterations = 0;
  double elapsed = 0;
  do {
    for (int rep = 0; rep < 100000; ++rep) {
      for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * mul + add;
    }
    iterations += 100000;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  float sink = 0;
  for (int c = 0; c < kChains; ++c) sink += acc[c][0];
  volatile float keep = sink;
  (void)keep;
  return static_cast<double>(iterations) * kChains * kLanes * 2 / elapsed;
}
}  // namespace

double measurePeakGflops(int threads, double seconds) {
  std::vector<double> flops(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { flops[t] = fmaLoop(seconds, 1.f + t); });
  double total = 0;
  for (int t = 0; t < threads; ++t) {
    pool[t].join();
    total += flops[t];
  }
  return total / 1e9;
}

}  // namespace difflab
