// Multi-head self-attention straight from the packed qkv projection [B, N, 3, H, hd] (PyTorch's
// layout): every head's Q, K and V are strided matrices inside it (leading dimension 3·d), so BLAS
// reads them in place and writes the output and the gradient in place too. No head split or merge
// transposes, no stored scores: the forward pass keeps only the attention probabilities.
#include <cmath>
#include <cstring>
#include <vector>

#include "fastmath.h"
#include "kernels.h"
#include "parallel.h"

#if defined(DIFFLAB_ACCELERATE)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

namespace difflab {

namespace {

void gemm1(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), 0.f, c, static_cast<int>(ldc));
}

// Σ a[c]·b[c] (b == nullptr: Σ a[c]) over sixteen interleaved float lanes, so the loop vectorises
// (one serial chain of adds is four cycles an element).
inline float laneDot(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += b ? a[c + j] * b[c + j] : a[c + j];
  }
  float s = 0.f;
  for (; c < n; ++c) s += b ? a[c] * b[c] : a[c];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

void softmaxRowsInPlace(float* p, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = p + r * cols;
    float m = row[0];
    for (int64_t c = 1; c < cols; ++c) m = row[c] > m ? row[c] : m;
    for (int64_t c = 0; c < cols; ++c) row[c] = fastExp(row[c] - m);
    const float inv = 1.f / laneDot(row, nullptr, cols);
    for (int64_t c = 0; c < cols; ++c) row[c] *= inv;
  }
}

}  // namespace

void attention(const float* qkv, int64_t batch, int64_t tokens, int64_t heads, int64_t headDim, float* out, float* probs) {
  const int64_t d = heads * headDim, ld = 3 * d, n = tokens;
  const float scale = 1.f / std::sqrt(static_cast<float>(headDim));
  parallelFor(batch * heads, n * n * (2 * headDim + 8), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / heads, h = i % heads;
      const float* q = qkv + b * n * ld + h * headDim;
      float* p = probs + i * n * n;
      gemm1(false, true, n, n, headDim, scale, q, ld, q + d, ld, p, n);
      softmaxRowsInPlace(p, n, n);
      gemm1(false, false, n, headDim, n, 1.f, p, n, q + 2 * d, ld, out + b * n * d + h * headDim, d);
    }
  }, 1);
}

void attentionGrad(const float* dy, const float* qkv, const float* probs, int64_t batch, int64_t tokens, int64_t heads,
                   int64_t headDim, float* dqkv) {
  const int64_t d = heads * headDim, ld = 3 * d, n = tokens;
  const float scale = 1.f / std::sqrt(static_cast<float>(headDim));
  parallelFor(batch * heads, n * n * (4 * headDim + 8), [&](int64_t i0, int64_t i1) {
    std::vector<float> ds(static_cast<size_t>(n * n));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / heads, h = i % heads;
      const float* q = qkv + b * n * ld + h * headDim;
      const float* p = probs + i * n * n;
      const float* dO = dy + b * n * d + h * headDim;
      float* dq = dqkv + b * n * ld + h * headDim;
      gemm1(true, false, n, headDim, n, 1.f, p, n, dO, d, dq + 2 * d, ld);      // dV = Pᵀ·dO
      gemm1(false, true, n, n, headDim, 1.f, dO, d, q + 2 * d, ld, ds.data(), n);  // dP = dO·Vᵀ
      for (int64_t r = 0; r < n; ++r) {                                           // dS = P·(dP − Σ dP·P)
        const float* pr = p + r * n;
        float* sr = ds.data() + r * n;
        const float dot = laneDot(pr, sr, n);
        for (int64_t c = 0; c < n; ++c) sr[c] = pr[c] * (sr[c] - dot);
      }
      gemm1(false, false, n, headDim, n, scale, ds.data(), n, q + d, ld, dq, ld);  // dQ = s·dS·K
      gemm1(true, false, n, headDim, n, scale, ds.data(), n, q, ld, dq + d, ld);   // dK = s·dSᵀ·Q
    }
  }, 1);
}

}  // namespace difflab
