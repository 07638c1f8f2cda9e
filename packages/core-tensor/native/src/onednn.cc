// Matrix products through oneDNN's matmul (Debian libdnnl, PyTorch's own CPU kernel library):
// - fp32 products when the matmul library is oneDNN (train.matmul "onednn"): on the DiT's shapes its
//   JIT kernels run well ahead of OpenBLAS's sgemm, but their sums round differently, so they are opt-in
//   and every committed result made with BLAS still reproduces to the last digit under the default;
// - bf16 products for train.precision "bf16": the fp32 operands are rounded to bfloat16 (nearest-even)
//   and multiplied with fp32 accumulation and an fp32 result, as PyTorch's CPU autocast does. OpenBLAS's
//   sbgemm would do the same, but Debian's OpenBLAS is built without it.
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kernels.h"

#ifdef DIFFLAB_ONEDNN
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif

namespace difflab {

namespace {
MatmulPrecision gPrecision = MatmulPrecision::Fp32;
MatmulLibrary gLibrary = MatmulLibrary::Blas;

inline uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// A rows × cols matrix stored with leading dimension ld, rounded into a packed bf16 copy.
void packBf16(const float* src, int64_t rows, int64_t cols, int64_t ld, std::vector<uint16_t>& dst) {
  dst.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * ld;
    uint16_t* d = dst.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) d[c] = toBf16(s[c]);
  }
}
}  // namespace

std::string onednnUnavailable() {
#ifndef DIFFLAB_ONEDNN
  return "the native addon was built without oneDNN: install libdnnl-dev and rebuild it (bash tools/setup.sh)";
#else
  return "";
#endif
}

std::string bf16Unavailable() {
  const std::string noOnednn = onednnUnavailable();
  if (!noOnednn.empty()) return noOnednn;
  // oneDNN would emulate bf16 on older AVX-512 CPUs, slower than fp32; only native bf16 dot products pay.
  if (!__builtin_cpu_supports("avx512bf16")) return "this CPU has no AVX512-BF16 instructions (avx512_bf16 in /proc/cpuinfo)";
  return "";
}

void setMatmulPrecision(MatmulPrecision p) {
  if (p == MatmulPrecision::Bf16) {
    const std::string why = bf16Unavailable();
    if (!why.empty()) throw std::runtime_error("bf16 matrix products are unavailable: " + why);
  }
  gPrecision = p;
}

MatmulPrecision matmulPrecision() { return gPrecision; }

void setMatmulLibrary(MatmulLibrary l) {
  if (l == MatmulLibrary::Onednn) {
    const std::string why = onednnUnavailable();
    if (!why.empty()) throw std::runtime_error("oneDNN matrix products are unavailable: " + why);
  }
  gLibrary = l;
}

MatmulLibrary matmulLibrary() { return gLibrary; }

#ifdef DIFFLAB_ONEDNN
namespace {
void check(dnnl_status_t s, const char* what) {
  if (s != dnnl_success) throw std::runtime_error(std::string("oneDNN ") + what + " failed (status " + std::to_string(s) + ")");
}

dnnl_engine_t engine() {
  static dnnl_engine_t e = [] {
    dnnl_engine_t made;
    check(dnnl_engine_create(&made, dnnl_cpu, 0), "engine_create");
    return made;
  }();
  return e;
}

// One matmul primitive per shape; memory objects are re-pointed at each call's buffers.
struct Product {
  dnnl_primitive_t prim = nullptr;
  dnnl_memory_t a = nullptr, b = nullptr, c = nullptr;
  ~Product() {
    if (prim) dnnl_primitive_destroy(prim);
    for (dnnl_memory_t m : {a, b, c}) if (m) dnnl_memory_destroy(m);
  }
};

using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, float, dnnl_data_type_t>;

std::unique_ptr<Product> makeProduct(int64_t m, int64_t n, int64_t k, bool transA, bool transB, int64_t lda, int64_t ldb, int64_t ldc,
                                     float beta, dnnl_data_type_t in) {
  auto p = std::make_unique<Product>();
  dnnl_memory_desc_t aMd, bMd, cMd;
  const dnnl_dims_t aDims = {m, k}, bDims = {k, n}, cDims = {m, n};
  // op(A) is A (row-major m × k, leading dimension lda) or Aᵀ of a row-major k × m; the same for B.
  const dnnl_dims_t aStrides = {transA ? 1 : lda, transA ? lda : 1};
  const dnnl_dims_t bStrides = {transB ? 1 : ldb, transB ? ldb : 1};
  const dnnl_dims_t cStrides = {ldc, 1};
  check(dnnl_memory_desc_init_by_strides(&aMd, 2, aDims, in, aStrides), "memory_desc(A)");
  check(dnnl_memory_desc_init_by_strides(&bMd, 2, bDims, in, bStrides), "memory_desc(B)");
  check(dnnl_memory_desc_init_by_strides(&cMd, 2, cDims, dnnl_f32, cStrides), "memory_desc(C)");
  dnnl_matmul_desc_t desc;
  check(dnnl_matmul_desc_init(&desc, &aMd, &bMd, nullptr, &cMd), "matmul_desc_init");
  dnnl_primitive_attr_t attr;
  check(dnnl_primitive_attr_create(&attr), "attr_create");
  if (beta != 0.f) {
    dnnl_post_ops_t ops;
    check(dnnl_post_ops_create(&ops), "post_ops_create");
    check(dnnl_post_ops_append_sum(ops, beta), "post_ops_append_sum");
    check(dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops");
    dnnl_post_ops_destroy(ops);
  }
  dnnl_primitive_desc_t pd;
  const dnnl_status_t made = dnnl_primitive_desc_create(&pd, &desc, attr, engine(), nullptr);
  dnnl_primitive_attr_destroy(attr);
  check(made, "matmul primitive_desc_create");
  const dnnl_status_t created = dnnl_primitive_create(&p->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  check(created, "matmul primitive_create");
  check(dnnl_memory_create(&p->a, &aMd, engine(), DNNL_MEMORY_NONE), "memory_create(A)");
  check(dnnl_memory_create(&p->b, &bMd, engine(), DNNL_MEMORY_NONE), "memory_create(B)");
  check(dnnl_memory_create(&p->c, &cMd, engine(), DNNL_MEMORY_NONE), "memory_create(C)");
  return p;
}

// Per thread: the backend's pool threads each multiply their own slice (gemm.cc splits the work as
// for BLAS), so each keeps its own primitives, stream and bf16 buffers, and oneDNN runs on that
// thread alone (no OpenMP team).
struct ThreadState {
  dnnl_stream_t stream = nullptr;
  std::map<Key, std::unique_ptr<Product>> products;
  std::vector<uint16_t> a, b;
  ThreadState() {
    omp_set_num_threads(1);
    check(dnnl_stream_create(&stream, engine(), dnnl_stream_default_flags), "stream_create");
  }
  ~ThreadState() {
    products.clear();
    if (stream) dnnl_stream_destroy(stream);
  }
};

ThreadState& threadState() {
  thread_local ThreadState t;
  return t;
}

void run(ThreadState& t, int64_t m, int64_t n, int64_t k, bool transA, bool transB, int64_t lda, int64_t ldb, int64_t ldc,
         float beta, dnnl_data_type_t in, void* a, void* b, float* c) {
  // A program meets a handful of shapes; the bound only keeps a shape-changing one from hoarding JIT code.
  if (t.products.size() > 4096) t.products.clear();
  std::unique_ptr<Product>& p = t.products[Key{m, n, k, transA, transB, lda, ldb, ldc, beta, in}];
  if (!p) p = makeProduct(m, n, k, transA, transB, lda, ldb, ldc, beta, in);
  check(dnnl_memory_set_data_handle(p->a, a), "set_data_handle(A)");
  check(dnnl_memory_set_data_handle(p->b, b), "set_data_handle(B)");
  check(dnnl_memory_set_data_handle(p->c, c), "set_data_handle(C)");
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
  check(dnnl_primitive_execute(p->prim, t.stream, 3, args), "matmul execute");
  check(dnnl_stream_wait(t.stream), "stream_wait");
}
}  // namespace

void gemmBf16(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
              int64_t lda, int64_t ldb, int64_t ldc, float beta) {
  ThreadState& t = threadState();
  packBf16(a, transA ? k : m, transA ? m : k, lda, t.a);
  packBf16(b, transB ? n : k, transB ? k : n, ldb, t.b);
  run(t, m, n, k, transA, transB, transA ? m : k, transB ? k : n, ldc, beta, dnnl_bf16, t.a.data(), t.b.data(), c);
}

void gemmF32(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
             int64_t lda, int64_t ldb, int64_t ldc, float beta) {
  // oneDNN reads the operands in place (fp32, the caller's strides); its handles are not const.
  run(threadState(), m, n, k, transA, transB, lda, ldb, ldc, beta, dnnl_f32, const_cast<float*>(a), const_cast<float*>(b), c);
}
#else
void gemmBf16(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, float) {
  throw std::runtime_error("bf16 matrix products are unavailable: " + bf16Unavailable());
}
void gemmF32(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, float) {
  throw std::runtime_error("oneDNN matrix products are unavailable: " + onednnUnavailable());
}
#endif

}  // namespace difflab
