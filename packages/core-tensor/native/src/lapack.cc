// Float64 dense linear algebra for the metrics (FID's symmetric eigendecompositions and the
// products around them) through the LAPACK and BLAS the addon already links. These are the O(n³)
// steps of a 2048-d Fréchet distance: in JS the eigendecomposition alone took 13–39 s.
//
// Synchronous on purpose: core-tensor's `eigh`/`sqrtmPsd` and metrics' `frechetDistance` are
// synchronous APIs, and an AsyncWorker would only free the event loop, not make the work faster.
// Instead, for the duration of each call OpenBLAS may use the addon's thread count (the backend's
// own pool is idle while JS waits here), and is put back to one thread afterwards so that it
// never competes with that pool during tfjs kernels (see gemm.cc).
//
// Layout: JS passes row-major matrices. A row-major symmetric matrix is its own column-major
// transpose, so LAPACK reads it as is; the eigenvectors LAPACK writes as columns of a
// column-major matrix are, read row-major, the rows of the buffer — the layout core-tensor's
// `eighRows` returns, so no transpose is needed on either side.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels.h"

#if defined(DIFFLAB_ACCELERATE)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

#if defined(DIFFLAB_OPENBLAS)
// The Fortran LAPACK routine OpenBLAS exports (nm -D libopenblas.so | grep dsyevd_), declared here
// so no LAPACKE headers are needed. Every argument is a pointer; gfortran appends the lengths of
// the CHARACTER arguments as trailing size_t values, which we pass (both are 1).
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobzLen,
                        size_t uploLen);
#endif

namespace difflab {

namespace {

// OpenBLAS threads for one call, then back to the single thread the rest of the addon expects.
struct BlasThreadsForCall {
  BlasThreadsForCall() {
#if defined(DIFFLAB_OPENBLAS)
    openblas_set_num_threads(numThreads());
#endif
  }
  ~BlasThreadsForCall() {
#if defined(DIFFLAB_OPENBLAS)
    openblas_set_num_threads(1);
#endif
  }
  BlasThreadsForCall(const BlasThreadsForCall&) = delete;
  BlasThreadsForCall& operator=(const BlasThreadsForCall&) = delete;
};

Napi::Float64Array doublesArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + name + " must be a Float64Array");
  }
  return v.As<Napi::Float64Array>();
}

int64_t sizeArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + name + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != std::floor(d)) {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + name + " must be a non-negative integer");
  }
  return static_cast<int64_t>(d);
}

void requireDoubles(const Napi::Env& env, const Napi::Float64Array& a, const char* fn, const char* name, int64_t expected) {
  if (static_cast<int64_t>(a.ElementLength()) != expected) {
    throw Napi::RangeError::New(env, std::string(fn) + ": " + name + " has " + std::to_string(a.ElementLength()) +
                                         " elements; its sizes need " + std::to_string(expected));
  }
}

// LAPACK would iterate on NaN until it gives up with an unhelpful info code (or return NaNs).
void requireFinite(const Napi::Env& env, const double* a, int64_t n, int64_t cols, const char* fn) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) {
      throw Napi::RangeError::New(env, std::string(fn) + ": entry " + std::to_string(i / cols) + "," +
                                           std::to_string(i % cols) + " is " +
                                           (std::isnan(a[i]) ? "NaN" : a[i] > 0 ? "Infinity" : "-Infinity") +
                                           "; remove NaN/Inf before calling");
    }
  }
}

#if defined(DIFFLAB_OPENBLAS)
// eighF64(a, n, w, wantVectors): symmetric eigendecomposition by LAPACK dsyevd (divide and conquer).
// a: row-major n×n symmetric (both triangles are read as the same matrix), overwritten with the
// unit eigenvectors as rows when wantVectors (row i ↔ w[i]); w: the eigenvalues, ascending.
Napi::Value EighF64(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "eighF64";
  Napi::Float64Array aArr = doublesArg(info, 0, fn, "a");
  const int64_t n = sizeArg(info, 1, fn, "n");
  Napi::Float64Array wArr = doublesArg(info, 2, fn, "w");
  const bool wantVectors = info[3].ToBoolean().Value();
  // The workspace 1 + 6n + 2n² must fit LAPACK's 32-bit integers (OpenBLAS's LP64 interface).
  if (n > 32000) throw Napi::RangeError::New(env, "eighF64: n = " + std::to_string(n) + " exceeds 32000, the largest LAPACK's 32-bit workspace sizes allow");
  requireDoubles(env, aArr, fn, "a", n * n);
  requireDoubles(env, wArr, fn, "w", n);
  if (n == 0) return env.Undefined();
  double* a = aArr.Data();
  double* w = wArr.Data();
  requireFinite(env, a, n * n, n, fn);

  const char jobz = wantVectors ? 'V' : 'N';
  const char uplo = 'U';
  const int ni = static_cast<int>(n);
  int info_ = 0;
  // Workspace query first: dsyevd reports the optimal sizes in work[0] and iwork[0].
  double workSize = 0;
  int iworkSize = 0;
  int query = -1;
  dsyevd_(&jobz, &uplo, &ni, a, &ni, w, &workSize, &query, &iworkSize, &query, &info_, 1, 1);
  if (info_ != 0) {
    throw Napi::Error::New(env, "eighF64: LAPACK dsyevd workspace query failed (info = " + std::to_string(info_) + ")");
  }
  const int lwork = static_cast<int>(workSize);
  const int liwork = iworkSize;
  std::vector<double> work(static_cast<size_t>(std::max(lwork, 1)));
  std::vector<int> iwork(static_cast<size_t>(std::max(liwork, 1)));
  {
    BlasThreadsForCall threads;
    dsyevd_(&jobz, &uplo, &ni, a, &ni, w, work.data(), &lwork, iwork.data(), &liwork, &info_, 1, 1);
  }
  if (info_ < 0) {
    throw Napi::Error::New(env, "eighF64: LAPACK dsyevd rejected argument " + std::to_string(-info_) + " (a bug in the caller, please report)");
  }
  if (info_ > 0) {
    // dsyevd's documented meanings of info > 0.
    const std::string why = wantVectors
                                ? "failed to compute an eigenvalue while working on the submatrix in rows and columns " +
                                      std::to_string(info_ / (n + 1)) + " through " + std::to_string(info_ % (n + 1))
                                : std::to_string(info_) + " off-diagonal elements of the tridiagonal form did not converge to zero";
    throw Napi::Error::New(env, "eighF64: LAPACK dsyevd did not converge (info = " + std::to_string(info_) + "): " + why +
                                    "; check the input for a huge dynamic range");
  }
  return env.Undefined();
}
#endif

// matmulTransBF64(a, b, c, m, n, k, beta, symmetric): C = A·Bᵀ + beta·C for row-major A (m×k),
// B (n×k), C (m×n). With `symmetric` (the caller knows A·Bᵀ is symmetric, m = n) the lower
// triangle is made an exact mirror of the upper one, as the JS path does, and A·Aᵀ (a and b the
// same array) takes dsyrk, half the work of a general product.
Napi::Value MatmulTransBF64(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "matmulTransBF64";
  Napi::Float64Array aArr = doublesArg(info, 0, fn, "a");
  Napi::Float64Array bArr = doublesArg(info, 1, fn, "b");
  Napi::Float64Array cArr = doublesArg(info, 2, fn, "c");
  const int64_t m = sizeArg(info, 3, fn, "m"), n = sizeArg(info, 4, fn, "n"), k = sizeArg(info, 5, fn, "k");
  const double beta = info[6].As<Napi::Number>().DoubleValue();
  const bool symmetric = info[7].ToBoolean().Value();
  const int64_t limit = 2147483647;
  if (m > limit || n > limit || k > limit) throw Napi::RangeError::New(env, "matmulTransBF64: sizes must fit 32-bit BLAS integers");
  requireDoubles(env, aArr, fn, "a", m * k);
  requireDoubles(env, bArr, fn, "b", n * k);
  requireDoubles(env, cArr, fn, "c", m * n);
  if (symmetric && m != n) throw Napi::RangeError::New(env, "matmulTransBF64: a symmetric product must be square");
  if (m == 0 || n == 0) return env.Undefined();
  const double* a = aArr.Data();
  const double* b = bArr.Data();
  double* c = cArr.Data();
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  {
    BlasThreadsForCall threads;
    if (symmetric && a == b) {
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, ni, ki, 1.0, a, ki, beta, c, ni);
    } else {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, ni, ki, 1.0, a, ki, b, ki, beta, c, ni);
    }
  }
  if (symmetric) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = i + 1; j < n; ++j) c[j * n + i] = c[i * n + j];
    }
  }
  return env.Undefined();
}

}  // namespace

void registerLinalg(Napi::Env env, Napi::Object exports) {
  exports.Set("matmulTransBF64", Napi::Function::New(env, MatmulTransBF64));
#if defined(DIFFLAB_OPENBLAS)
  // Only OpenBLAS builds export LAPACK here; elsewhere (Accelerate) `eigh` keeps its JS path.
  exports.Set("eighF64", Napi::Function::New(env, EighF64));
#endif
}

}  // namespace difflab
