// The optimizer end of a training step in two passes over all parameters: the squared gradient
// norms (for global-norm clipping), then clip + AdamW + EMA elementwise. Done with tfjs ops this is
// ~20 small kernels per parameter (a few hundred per step), each with its own dispatch, output
// allocation and pass over memory; for small models that costs more than the model's arithmetic.
//
// Every value is computed with the same float32 operations, in the same order, as the tfjs ops of
// the reference (core-tensor's clipByGlobalNorm, AdamW.step and Ema.update on this backend), so the
// two paths agree bit for bit: each product, sum, quotient and square root is rounded to float32
// before the next (no fused multiply-add: contraction would change the last bit), and a squared norm
// is summed exactly as the native Sum kernel sums a whole tensor (reduce.cc's sumRow: eight double
// accumulators, then the tail, then the accumulators, rounded to float32 once).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace difflab {

namespace {

// reduce(Sum) of unary(Square) of x, as reduce.cc's sumRow computes it.
float sumOfSquares(const float* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      const float sq = x[i + j] * x[i + j];
      acc[j] += sq;
    }
  }
  double s = 0;
  for (; i < n; ++i) {
    const float sq = x[i] * x[i];
    s += sq;
  }
  for (int j = 0; j < 8; ++j) s += acc[j];
  return static_cast<float>(s);
}

struct Coefficients {
  float b1, c1, b2, c2, sqrtBc2, eps, stepSize, shrink, gradScale, emaDecay, emaRest;
  bool scaleGrads;
};

void updateRange(const ParamUpdate& u, const Coefficients& k, int64_t lo, int64_t hi) {
  if (!u.g) {  // no gradient: the parameter stays, its average moves towards it
    if (!u.eIn) return;
    for (int64_t i = lo; i < hi; ++i) {
      const float p = u.pIn[i];
      const float decayed = u.eIn[i] * k.emaDecay;
      const float pulled = p * k.emaRest;
      u.eOut[i] = decayed + pulled;
    }
    return;
  }
  const bool fresh = u.mIn == nullptr;
  for (int64_t i = lo; i < hi; ++i) {
    float g = u.g[i];
    if (k.scaleGrads) g = g * k.gradScale;
    const float gc1 = g * k.c1;
    const float g2 = g * g;
    const float g2c2 = g2 * k.c2;
    float m, v;
    if (fresh) {
      m = gc1;
      v = g2c2;
    } else {
      const float mb1 = u.mIn[i] * k.b1;
      const float vb2 = u.vIn[i] * k.b2;
      m = mb1 + gc1;
      v = vb2 + g2c2;
    }
    const float root = std::sqrt(v);
    const float corrected = root / k.sqrtBc2;
    const float denom = corrected + k.eps;
    const float p0 = u.pIn[i];
    const float decayedP = u.decay ? p0 * k.shrink : p0;
    const float ratio = m / denom;
    const float delta = ratio * k.stepSize;
    const float p = decayedP - delta;
    u.mOut[i] = m;
    u.vOut[i] = v;
    u.pOut[i] = p;
    if (u.eIn) {
      const float decayed = u.eIn[i] * k.emaDecay;
      const float pulled = p * k.emaRest;
      u.eOut[i] = decayed + pulled;
    }
  }
}

}  // namespace

void sumsOfSquares(const float* const* xs, const int64_t* sizes, int64_t count, float* out) {
  int64_t total = 0;
  for (int64_t j = 0; j < count; ++j) total += sizes[j];
  // One chunk per tensor (each sum runs in one fixed order, so the split never changes a result).
  const int perThread = static_cast<int>(std::max<int64_t>(1, count / std::max(1, numThreads())));
  parallelFor(count, std::max<int64_t>(1, total / std::max<int64_t>(1, count)), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) out[j] = sumOfSquares(xs[j], sizes[j]);
  }, perThread);
}

void adamwEma(const std::vector<ParamUpdate>& params, const AdamWStep& s) {
  const Coefficients k{
      static_cast<float>(s.beta1),    static_cast<float>(s.oneMinusBeta1), static_cast<float>(s.beta2),
      static_cast<float>(s.oneMinusBeta2), static_cast<float>(s.sqrtBiasCorrection2), static_cast<float>(s.eps),
      static_cast<float>(s.stepSize), static_cast<float>(s.shrink),     static_cast<float>(s.gradScale),
      static_cast<float>(s.emaDecay), static_cast<float>(s.oneMinusEmaDecay), s.scaleGrads,
  };
  // The parameters laid end to end; threads take contiguous ranges of that, across tensor borders.
  std::vector<int64_t> start(params.size() + 1, 0);
  for (size_t j = 0; j < params.size(); ++j) start[j + 1] = start[j] + params[j].n;
  const int64_t total = start.back();
  parallelFor(total, 4, [&](int64_t b, int64_t e) {
    size_t j = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), b) - start.begin()) - 1;
    for (; j < params.size() && start[j] < e; ++j) {
      const int64_t lo = std::max(b, start[j]) - start[j], hi = std::min(e, start[j + 1]) - start[j];
      if (lo < hi) updateRange(params[j], k, lo, hi);
    }
  });
}

}  // namespace difflab
