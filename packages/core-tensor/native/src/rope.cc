// Rotary position embedding on interleaved channel pairs, one pass over the rows. Composed from tfjs
// ops it is a split of evens and odds (reshape, transpose, unstack), four products, a sum and a
// difference, then a stack and a transpose back: about ten passes and as many tensors kept for the
// backward pass, which cost a quarter of a small DiT's training step.
#include "kernels.h"
#include "parallel.h"

// No fused multiply-add: each product rounded, then the sum, exactly as the composed tfjs ops round, so a
// run's numbers do not depend on whether the addon has this kernel (GCC contracts a * b + c in C++ even
// in ISO mode; clang reads the STDC pragma).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

namespace difflab {

void rotaryPairs(const float* x, const float* cos, const float* sin, int64_t batch, int64_t tokens, int64_t pairs,
                 bool inverse, float* y) {
  // A rotation's transpose is its inverse, the rotation by −a: the gradient is this kernel with sin negated.
  const float sign = inverse ? -1.f : 1.f;
  const int64_t rows = batch * tokens;
  parallelFor(rows, pairs * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      // The tables hold one row per token, shared by every batch item.
      const float* c = cos + (r % tokens) * pairs;
      const float* s = sin + (r % tokens) * pairs;
      const float* xr = x + r * 2 * pairs;
      float* yr = y + r * 2 * pairs;
      for (int64_t p = 0; p < pairs; ++p) {
        const float x0 = xr[2 * p], x1 = xr[2 * p + 1], sn = sign * s[p];
        yr[2 * p] = x0 * c[p] - x1 * sn;
        yr[2 * p + 1] = x1 * c[p] + x0 * sn;
      }
    }
  });
}

}  // namespace difflab
