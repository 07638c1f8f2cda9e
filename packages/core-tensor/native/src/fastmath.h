// exp in branch-free float arithmetic, so loops over it vectorise (the C library's expf does not
// without -ffast-math). Cephes' polynomial on [-ln2/2, ln2/2] after range reduction: within 2 ulp
// of expf for normal results; +inf above 88.72, 0 below -87.3 (expf gives subnormals there).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace difflab {

inline float fastExp(float x) {
  const float c = std::fmin(std::fmax(x, -87.3f), 88.3f);
  const float n = std::floor(c * 1.44269504088896341f + 0.5f);
  const float r = c - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float y = p * scale;
  return x > 88.72f ? std::numeric_limits<float>::infinity() : (x < -87.3f ? 0.f : (x != x ? x : y));
}

}  // namespace difflab
