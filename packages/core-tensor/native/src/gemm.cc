// Matrix products through the platform BLAS, or oneDNN (onednn.cc) when chosen. Both run
// single-threaded; this file spreads the work over the cores itself (by batch item, else by rows or
// columns), so one thread pool serves the whole backend and no library pool competes with it.
#include <cmath>
#include <algorithm>
#include <cstring>
#include <thread>

#include "kernels.h"
#include "parallel.h"

#if defined(DIFFLAB_ACCELERATE)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

namespace difflab {

namespace {
int gThreads = 0;

void sgemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA,
           bool transB, int64_t lda, int64_t ldb, int64_t ldc, float beta = 0.f) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) {
      if (beta == 0.f) std::memset(c + i * ldc, 0, sizeof(float) * n);
    }
    return;
  }
  if (matmulPrecision() == MatmulPrecision::Bf16) {
    gemmBf16(a, b, c, m, n, k, transA, transB, lda, ldb, ldc, beta);
    return;
  }
  if (matmulLibrary() == MatmulLibrary::Onednn) {
    gemmF32(a, b, c, m, n, k, transA, transB, lda, ldb, ldc, beta);
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

inline float activate(float v, Activation act, float alpha) {
  switch (act) {
    case Activation::Linear: return v;
    case Activation::Relu: return v > 0.f ? v : 0.f;
    case Activation::Relu6: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
    case Activation::Elu: return v >= 0.f ? v : std::expm1(v);
    case Activation::LeakyRelu: return v >= 0.f ? v : alpha * v;
    case Activation::Sigmoid: return 1.f / (1.f + std::exp(-v));
  }
  return v;
}
}  // namespace

int numThreads() {
  if (gThreads <= 0) gThreads = std::max(1u, std::thread::hardware_concurrency());
  return gThreads;
}

void setNumThreads(int n) {
#ifdef DIFFLAB_OPENBLAS
  openblas_set_num_threads(1);
#endif
  gThreads = n;
}

std::string blasInfo() {
#ifdef DIFFLAB_OPENBLAS
  return openblas_get_config();  // "OpenBLAS 0.3.21 ... <core>"
#elif defined(DIFFLAB_ACCELERATE)
  return "Accelerate";
#else
  return "CBLAS";
#endif
}

void applyEpilogue(float* c, int64_t rows, int64_t n, const Epilogue& ep) {
  if (!ep.bias && ep.act == Activation::Linear) return;
  for (int64_t i = 0; i < rows; ++i) {
    float* row = c + i * n;
    if (ep.bias) {
      for (int64_t j = 0; j < n; ++j) row[j] += ep.bias[j];
    }
    if (ep.act == Activation::Relu) {
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] > 0.f ? row[j] : 0.f;
    } else if (ep.act != Activation::Linear) {
      for (int64_t j = 0; j < n; ++j) row[j] = activate(row[j], ep.act, ep.alpha);
    }
  }
}

void batchedGemm(const float* a, const float* b, float* c, int64_t batch, const int64_t* aOff,
                 const int64_t* bOff, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
                 const Epilogue& ep) {
  const int64_t lda = transA ? m : k;
  const int64_t ldb = transB ? k : n;
  const int64_t work = m * n * (k + 1);
  const int threads = numThreads();
  if (batch >= threads || threads == 1) {
    parallelFor(batch, work, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float* ci = c + i * m * n;
        sgemm(a + aOff[i], b + bOff[i], ci, m, n, k, transA, transB, lda, ldb, n);
        applyEpilogue(ci, m, n, ep);
      }
    });
    return;
  }
  for (int64_t i = 0; i < batch; ++i) {
    gemm(a + aOff[i], b + bOff[i], c + i * m * n, m, n, k, transA, transB, 0.f, ep);
  }
}

void gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA,
          bool transB, float beta, const Epilogue& ep) {
  const int64_t lda = transA ? m : k;
  const int64_t ldb = transB ? k : n;
  // Split the output rows, or the columns when there are few rows. Each piece packs the other
  // operand again, so pieces stay at least ~256 rows (up to 4 per thread for load balance).
  const int perThread = static_cast<int>(std::clamp<int64_t>(std::max(m, n) / (256 * numThreads()), 1, 4));
  if (m >= n || m >= 64 * numThreads()) {
    parallelFor(m, n * (k + 1), [&](int64_t r0, int64_t r1) {
      const float* ar = transA ? a + r0 : a + r0 * k;
      sgemm(ar, b, c + r0 * n, r1 - r0, n, k, transA, transB, lda, ldb, n, beta);
      applyEpilogue(c + r0 * n, r1 - r0, n, ep);
    }, perThread);
  } else {
    parallelFor(n, m * (k + 1), [&](int64_t c0, int64_t c1) {
      const float* bc = transB ? b + c0 * k : b + c0;
      sgemm(a, bc, c + c0, m, c1 - c0, k, transA, transB, lda, ldb, n, beta);
      Epilogue part = ep;
      if (part.bias) part.bias += c0;
      for (int64_t r = 0; r < m; ++r) applyEpilogue(c + r * n + c0, 1, c1 - c0, part);
    }, perThread);
  }
}

}  // namespace difflab
