// The machine's practical fp32 peak: independent fused multiply-adds on the widest vectors the
// addon is compiled for (-march=native), on each thread, for a fixed time. The GEMM benchmark
// reports against it, so it must not undercount: explicit FMA intrinsics (ISO C++ mode turns
// off contraction of a * b + c) and a chain count that fits the ISA's register file (a 16-float
// vector on AVX2 is two registers; 12 such chains spilled and measured a twentieth of the peak).
#include <chrono>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kernels.h"

namespace difflab {

namespace {
#if defined(__AVX512F__)
// 32 zmm registers: 12 accumulators cover 2 FMA ports × 4-cycle latency with room to spare.
typedef __m512 Vec;
constexpr int kLanes = 16, kChains = 12;
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float first(Vec v) { return _mm512_cvtss_f32(v); }
#elif defined(__AVX2__) && defined(__FMA__)
// 16 ymm registers: 10 accumulators + the two constants, no spills.
typedef __m256 Vec;
constexpr int kLanes = 8, kChains = 10;
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float first(Vec v) { return _mm256_cvtss_f32(v); }
#elif defined(__SSE2__)
// No FMA unit: multiply and add are counted as the two flops they are.
typedef __m128 Vec;
constexpr int kLanes = 4, kChains = 8;
inline Vec splat(float v) { return _mm_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline float first(Vec v) { return _mm_cvtss_f32(v); }
#else
// Other ISAs (arm64: NEON has 32 registers): the compiler's generic vectors, contracted explicitly.
typedef float Vec __attribute__((vector_size(16)));
constexpr int kLanes = 4, kChains = 12;
inline Vec splat(float v) { return Vec{v, v, v, v}; }
#pragma STDC FP_CONTRACT ON
inline Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float first(Vec v) { return v[0]; }
#endif

double fmaLoop(double seconds, float seed) {
  Vec acc[kChains];
  const Vec mul = splat(0.999999f), add = splat(seed * 1e-7f);
  for (int c = 0; c < kChains; ++c) acc[c] = splat(seed + static_cast<float>(c));
  const auto start = std::chrono::steady_clock::now();
  int64_t iterations = 0;
  double elapsed = 0;
  do {
    for (int rep = 0; rep < 100000; ++rep) {
      for (int c = 0; c < kChains; ++c) acc[c] = fma(acc[c], mul, add);
    }
    iterations += 100000;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  float sink = 0;
  for (int c = 0; c < kChains; ++c) sink += first(acc[c]);
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
