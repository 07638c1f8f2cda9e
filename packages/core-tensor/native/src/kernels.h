// Kernels of the native backend. Plain C++ on raw float pointers; the Node-API layer (addon.cc)
// validates sizes before calling in, so nothing here checks bounds.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace difflab {

using Shape = std::vector<int64_t>;

int numThreads();
void setNumThreads(int n);
std::string blasInfo();

// Fused epilogue applied to a matmul/conv output, per column bias then activation.
enum class Activation { Linear = 0, Relu = 1, Relu6 = 2, Elu = 3, LeakyRelu = 4, Sigmoid = 5 };

struct Epilogue {
  const float* bias = nullptr;  // length N (per output column) or nullptr
  Activation act = Activation::Linear;
  float alpha = 0.f;  // LeakyRelu slope
};

// C[b] = op(A[aOff[b]]) * op(B[bOff[b]]) for b in [0, batch); C row-major [batch, M, N].
void batchedGemm(const float* a, const float* b, float* c, int64_t batch, const int64_t* aOff,
                 const int64_t* bOff, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
                 const Epilogue& ep);

// One product C = op(A) * op(B) + beta * C, split over the threads.
void gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA,
          bool transB, float beta, const Epilogue& ep);

void applyEpilogue(float* c, int64_t rows, int64_t n, const Epilogue& ep);

// The precision of gemm/batchedGemm products (not the fused attention kernel's): fp32, or both operands
// rounded to bfloat16 with fp32 accumulation (onednn.cc, always through oneDNN).
enum class MatmulPrecision { Fp32 = 0, Bf16 = 1 };
// Which library computes the fp32 products: the platform BLAS (default) or oneDNN (onednn.cc).
enum class MatmulLibrary { Blas = 0, Onednn = 1 };
// Why oneDNN / bf16 products cannot run here ("" when they can); the setters below throw it.
std::string onednnUnavailable();
std::string bf16Unavailable();
void setMatmulPrecision(MatmulPrecision p);
MatmulPrecision matmulPrecision();
void setMatmulLibrary(MatmulLibrary l);
MatmulLibrary matmulLibrary();
// C = op(A)·op(B) + beta·C on the calling thread through oneDNN (row-major, leading dimensions as
// cblas_sgemm): with bf16-rounded operands, or in fp32.
void gemmBf16(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
              int64_t lda, int64_t ldb, int64_t ldc, float beta);
void gemmF32(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
             int64_t lda, int64_t ldb, int64_t ldc, float beta);

enum class BinaryOp { Add = 0, Sub, Mul, Div, Max, Min, Pow, SquaredDiff };
void binary(BinaryOp op, const float* a, const Shape& aShape, const float* b, const Shape& bShape,
            float* out, const Shape& outShape);

enum class UnaryOp { Neg = 0, Exp, Log, Sqrt, Rsqrt, Square, Tanh, Sigmoid, Relu, Abs, Reciprocal, Erf, GeluTanh };
void unary(UnaryOp op, const float* x, float* out, int64_t n);

// dx = dy · d/dx gelu_tanh(x), all of length n.
void geluTanhGrad(const float* dy, const float* x, float* dx, int64_t n);

// SwiGLU's gate y = (a·σ(a))·g over n elements, and its gradient (da, dg) from dy: bit-identical to the
// Sigmoid and Multiply kernels and tfjs's gradients of them.
void swigluGate(const float* a, const float* g, float* y, int64_t n);
void swigluGateGrad(const float* dy, const float* a, const float* g, float* da, float* dg, int64_t n);

enum class ReduceOp { Sum = 0, Mean, Max, Min };
void reduce(ReduceOp op, const float* x, const Shape& shape, const std::vector<int>& axes, float* out);

void transpose(const float* x, const Shape& shape, const std::vector<int>& perm, float* out);

// out = x[begin : begin + size] along every axis (a strided copy of contiguous runs).
void slice(const float* x, const Shape& shape, const Shape& begin, const Shape& size, float* out);

void softmax(const float* x, float* out, int64_t rows, int64_t cols);

// Self-attention from packed qkv [batch, tokens, 3, heads, headDim]: out [batch, tokens, heads·headDim]
// = softmax(q·kᵀ/√headDim)·v per head; probs [batch, heads, tokens, tokens] are kept for the gradient.
void attention(const float* qkv, int64_t batch, int64_t tokens, int64_t heads, int64_t headDim, float* out, float* probs);
// Its gradient: dqkv (shaped as qkv) from dy (shaped as out).
void attentionGrad(const float* dy, const float* qkv, const float* probs, int64_t batch, int64_t tokens, int64_t heads,
                   int64_t headDim, float* dqkv);

// Layer norm without affine, then adaLN modulate: y = (x − mean) · rstd · (1 + scale) + shift.
// x is [groups · rowsPerGroup, cols]; shift and scale are [groups, cols] (one row per batch item);
// mean and rstd ([rows]) are saved for the gradient. center = false is RMSNorm: mean 0, rstd = 1/√(mean(x²) + eps).
void layerNormModulate(const float* x, const float* shift, const float* scale, int64_t groups,
                       int64_t rowsPerGroup, int64_t cols, float eps, bool center, float* y, float* mean, float* rstd);
// adaLN-Zero's gated residual out = h + gate · x (h, x [groups · rowsPerGroup, cols], gate [groups, cols]).
void gatedResidual(const float* h, const float* gate, const float* x, int64_t groups, int64_t rowsPerGroup,
                   int64_t cols, float* out);
// Its gradient apart from dh = dy: dx = dy · gate, dgate = Σ over the group's rows of dy · x.
void gatedResidualGrad(const float* dy, const float* gate, const float* x, int64_t groups, int64_t rowsPerGroup,
                       int64_t cols, float* dx, float* dgate);
// Its gradient: dx [rows, cols], dscale and dshift [groups, cols].
void layerNormModulateGrad(const float* dy, const float* x, const float* mean, const float* rstd,
                           const float* scale, int64_t groups, int64_t rowsPerGroup, int64_t cols, bool center,
                           float* dx, float* dscale, float* dshift);

// Rotary position embedding of interleaved channel pairs (rope.cc): for x, y [batch, tokens, 2·pairs] and
// tables cos, sin [tokens, pairs], y[2p] = x[2p]·cos − x[2p+1]·sin, y[2p+1] = x[2p+1]·cos + x[2p]·sin.
// inverse rotates by the negated angle, which is also the gradient (dx = inverse rotation of dy).
void rotaryPairs(const float* x, const float* cos, const float* sin, int64_t batch, int64_t tokens, int64_t pairs,
                 bool inverse, float* y);

struct ConvGeometry {
  int64_t batch, inH, inW, inC, outH, outW, outC, filterH, filterW;
  int64_t strideH, strideW, dilationH, dilationW, padTop, padLeft;
};
void conv2d(const ConvGeometry& g, const float* x, const float* w, float* y, const Epilogue& ep);
void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx);
void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw);

// The optimizer step (optimizer.cc). out[j] = Σ xs[j][i]², summed as reduce(Sum) sums unary(Square).
void sumsOfSquares(const float* const* xs, const int64_t* sizes, int64_t count, float* out);

// One parameter of a fused clip + AdamW + EMA step. In and out arrays may be the same (in place).
struct ParamUpdate {
  int64_t n = 0;
  const float* g = nullptr;   // gradient; nullptr: no AdamW update (the EMA still moves)
  const float* pIn = nullptr;
  float* pOut = nullptr;
  const float* mIn = nullptr;  // nullptr: first step for this parameter (moments start at zero)
  float* mOut = nullptr;
  const float* vIn = nullptr;
  float* vOut = nullptr;
  const float* eIn = nullptr;  // nullptr: no EMA for this parameter
  float* eOut = nullptr;
  bool decay = false;  // multiply by `shrink` (decoupled weight decay) before the Adam step
};

// The step's scalars in float64, as JS computes them; each is rounded to float32 once, as a tfjs
// scalar operand is.
struct AdamWStep {
  double beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtBiasCorrection2, eps, stepSize, shrink;
  double gradScale;  // the clipping coefficient, applied when scaleGrads
  double emaDecay, oneMinusEmaDecay;
  bool scaleGrads;
};

// g ← g·gradScale; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p·shrink − (m / (√v / √(1−β2ᵗ) + ε))·stepSize;
// e ← e·emaDecay + p·(1 − emaDecay), elementwise over every parameter, split over the threads.
void adamwEma(const std::vector<ParamUpdate>& params, const AdamWStep& step);

// Measured fp32 FMA throughput (GFLOP/s) of `threads` threads: the machine's practical peak.
double measurePeakGflops(int threads, double seconds);

// Makes freed memory stay mapped for reuse (glibc); false where the allocator cannot.
bool keepFreedPages();
// Returns the free parts of the heap to the kernel.
void releaseFreedPages();

}  // namespace difflab
