// exp and tanh in branch-free float arithmetic, so loops over it vectorise (the C library's expf does not
// without -ffast-math). Cephes' polynomial on [-ln2/2, ln2/2] after range reduction: within 2 ulp
// of expf; +inf above ln(FLT_MAX), 0 below -103.9 (as expf).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace difflab {

inline float fastExp(float x) {
  // Ternaries, not fmin/fmax: those must treat NaN specially and become library calls.
  float c = x < -103.9f ? -103.9f : x;
  c = c > 88.7228f ? 88.7228f : c;
  const float n = std::floor(c * 1.44269504088896341f + 0.5f);
  const float r = c - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as two normal factors, so results near FLT_MAX and subnormal results both come out right.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const int32_t bits1 = (n1 + 127) << 23, bits2 = (n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &bits1, sizeof s1);
  std::memcpy(&s2, &bits2, sizeof s2);
  const float y = (p * s1) * s2;
  return x > 88.7228f ? std::numeric_limits<float>::infinity() : (x < -103.9f ? 0.f : (x != x ? x : y));
}

// tanh through fastExp; the odd Taylor polynomial near 0, where 1 - 2/(e^2x + 1) would cancel.
inline float fastTanh(float x) {
  const float a = std::fabs(x);
  const float big = 1.f - 2.f / (fastExp(2.f * a) + 1.f);
  const float a2 = a * a;
  const float small = a * (1.f + a2 * (-1.f / 3.f + a2 * (2.f / 15.f + a2 * (-17.f / 315.f + a2 * (62.f / 2835.f)))));
  const float t = a < 0.3f ? small : big;
  return x < 0.f ? -t : (x != x ? x : t);
}

}  // namespace difflab
