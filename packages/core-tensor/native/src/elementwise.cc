// Broadcasting binary ops and unary ops. Shapes are collapsed to the fewest dimensions that
// describe the same strides, so the common cases (same shape, bias row, scalar) run as one
// vectorisable inner loop.
#include <algorithm>
#include <cmath>
#include <limits>

#include "fastmath.h"
#include "kernels.h"
#include "parallel.h"

namespace difflab {

namespace {

constexpr int kMaxRank = 12;

struct BroadcastPlan {
  int rank = 0;
  int64_t dims[kMaxRank];
  int64_t sa[kMaxRank];
  int64_t sb[kMaxRank];
  int64_t total = 1;
};

void contiguousStrides(const Shape& s, int64_t* out) {
  int64_t st = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    out[i] = s[i] == 1 ? 0 : st;
    st *= s[i];
  }
}

BroadcastPlan planBroadcast(const Shape& aShape, const Shape& bShape, const Shape& outShape) {
  const int r = static_cast<int>(outShape.size());
  int64_t aSt[kMaxRank], bSt[kMaxRank], aFull[kMaxRank], bFull[kMaxRank];
  Shape aAligned(r, 1), bAligned(r, 1);
  for (int i = 0; i < static_cast<int>(aShape.size()); ++i) aAligned[r - aShape.size() + i] = aShape[i];
  for (int i = 0; i < static_cast<int>(bShape.size()); ++i) bAligned[r - bShape.size() + i] = bShape[i];
  contiguousStrides(aAligned, aFull);
  contiguousStrides(bAligned, bFull);
  for (int i = 0; i < r; ++i) {
    aSt[i] = aFull[i];
    bSt[i] = bFull[i];
  }
  BroadcastPlan p;
  for (int i = 0; i < r; ++i) {
    p.total *= outShape[i];
    if (outShape[i] == 1) continue;
    if (p.rank > 0) {
      const int q = p.rank - 1;
      if (p.sa[q] == aSt[i] * outShape[i] && p.sb[q] == bSt[i] * outShape[i]) {
        p.dims[q] *= outShape[i];
        p.sa[q] = aSt[i];
        p.sb[q] = bSt[i];
        continue;
      }
    }
    p.dims[p.rank] = outShape[i];
    p.sa[p.rank] = aSt[i];
    p.sb[p.rank] = bSt[i];
    ++p.rank;
  }
  if (p.rank == 0) {  // a single element
    p.rank = 1;
    p.dims[0] = 1;
    p.sa[0] = 0;
    p.sb[0] = 0;
  }
  return p;
}

template <class Op>
void innerLoop(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Op op) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
  }
}

template <class Op>
void runBinary(const BroadcastPlan& p, const float* a, const float* b, float* out, Op op) {
  const int last = p.rank - 1;
  const int64_t inner = p.dims[last];
  parallelFor(p.total, 1, [&](int64_t begin, int64_t end) {
    int64_t pos = begin;
    while (pos < end) {
      const int64_t row = pos / inner;
      const int64_t col = pos % inner;
      int64_t offA = col * p.sa[last], offB = col * p.sb[last];
      int64_t rem = row;
      for (int d = last - 1; d >= 0; --d) {
        const int64_t idx = rem % p.dims[d];
        rem /= p.dims[d];
        offA += idx * p.sa[d];
        offB += idx * p.sb[d];
      }
      const int64_t n = std::min(inner - col, end - pos);
      innerLoop(a + offA, p.sa[last], b + offB, p.sb[last], out + pos, n, op);
      pos += n;
    }
  });
}

template <class Op>
void runUnary(const float* x, float* out, int64_t n, int64_t cost, Op op) {
  parallelFor(n, cost, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = op(x[i]);
  });
}

// GELU, tanh approximation: 0.5·x·(1 + tanh(z)) = x·σ(u), u = 2z = x·(kGeluA + kGeluB·x²).
constexpr float kGeluA = 1.5957691216057308f;  // 2·sqrt(2/π)
constexpr float kGeluB = kGeluA * 0.044715f;

}  // namespace

void geluTanhGrad(const float* dy, const float* x, float* dx, int64_t n) {
  parallelFor(n, 2, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float v = x[i], v2 = v * v;
      const float s = 1.f / (1.f + fastExp(-v * (kGeluA + kGeluB * v2)));
      dx[i] = dy[i] * (s + v * s * (1.f - s) * (kGeluA + 3.f * kGeluB * v2));
    }
  });
}

namespace {

// σ exactly as the Sigmoid kernel computes it (unary below: the same expression under the same flags).
void sigmoidSpan(const float* x, float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) s[i] = 1.f / (1.f + fastExp(-x[i]));
}

// The SwiGLU gate's arithmetic with every product and sum rounded to float on its own, as the separate
// tfjs kernels it replaces round them: no contraction into FMAs (-march=native would otherwise fuse
// e.g. dt·s + ds·q), so the results are those of the composed ops bit for bit.
__attribute__((optimize("fp-contract=off")))
void swigluGateSpan(const float* a, const float* g, const float* s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float t = a[i] * s[i];
    y[i] = t * g[i];
  }
}

// tfjs's gradients of y = (a·σ(a))·g (Multiply, Multiply, Sigmoid), in their order: dt = dy·g, dg = dy·t,
// da = dt·σ + (dt·a)·(σ·(1 − σ)).
__attribute__((optimize("fp-contract=off")))
void swigluGateGradSpan(const float* dy, const float* a, const float* g, const float* s, float* da, float* dg, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float t = a[i] * s[i];
    const float dt = dy[i] * g[i];
    dg[i] = dy[i] * t;
    const float da1 = dt * s[i];
    const float ds = dt * a[i];
    const float da2 = ds * (s[i] * (1.f - s[i]));
    da[i] = da1 + da2;
  }
}

constexpr int64_t kSpan = 1024;

}  // namespace

void swigluGate(const float* a, const float* g, float* y, int64_t n) {
  parallelFor(n, 4, [&](int64_t begin, int64_t end) {
    float s[kSpan];
    for (int64_t c = begin; c < end; c += kSpan) {
      const int64_t m = std::min(kSpan, end - c);
      sigmoidSpan(a + c, s, m);
      swigluGateSpan(a + c, g + c, s, y + c, m);
    }
  });
}

void swigluGateGrad(const float* dy, const float* a, const float* g, float* da, float* dg, int64_t n) {
  parallelFor(n, 8, [&](int64_t begin, int64_t end) {
    float s[kSpan];
    for (int64_t c = begin; c < end; c += kSpan) {
      const int64_t m = std::min(kSpan, end - c);
      sigmoidSpan(a + c, s, m);
      swigluGateGradSpan(dy + c, a + c, g + c, s, da + c, dg + c, m);
    }
  });
}

void binary(BinaryOp op, const float* a, const Shape& aShape, const float* b, const Shape& bShape,
            float* out, const Shape& outShape) {
  const BroadcastPlan p = planBroadcast(aShape, bShape, outShape);
  if (p.total == 0) return;
  switch (op) {
    case BinaryOp::Add: return runBinary(p, a, b, out, [](float x, float y) { return x + y; });
    case BinaryOp::Sub: return runBinary(p, a, b, out, [](float x, float y) { return x - y; });
    case BinaryOp::Mul: return runBinary(p, a, b, out, [](float x, float y) { return x * y; });
    case BinaryOp::Div: return runBinary(p, a, b, out, [](float x, float y) { return x / y; });
    // NaN in either operand gives NaN, as Math.max/Math.min do.
    case BinaryOp::Max:
      return runBinary(p, a, b, out, [](float x, float y) { return x > y ? x : (y >= x ? y : x + y); });
    case BinaryOp::Min:
      return runBinary(p, a, b, out, [](float x, float y) { return x < y ? x : (y <= x ? y : x + y); });
    case BinaryOp::Pow: return runBinary(p, a, b, out, [](float x, float y) { return std::pow(x, y); });
    case BinaryOp::SquaredDiff:
      return runBinary(p, a, b, out, [](float x, float y) { return (x - y) * (x - y); });
  }
}

void unary(UnaryOp op, const float* x, float* out, int64_t n) {
  constexpr int64_t kCheap = 1, kTranscendental = 8;
  switch (op) {
    case UnaryOp::Neg: return runUnary(x, out, n, kCheap, [](float v) { return -v; });
    case UnaryOp::Exp: return runUnary(x, out, n, kCheap, [](float v) { return fastExp(v); });
    case UnaryOp::Log: return runUnary(x, out, n, kTranscendental, [](float v) { return std::log(v); });
    case UnaryOp::Sqrt: return runUnary(x, out, n, kCheap, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt: return runUnary(x, out, n, kCheap, [](float v) { return 1.f / std::sqrt(v); });
    case UnaryOp::Square: return runUnary(x, out, n, kCheap, [](float v) { return v * v; });
    case UnaryOp::Tanh: return runUnary(x, out, n, kCheap, [](float v) { return fastTanh(v); });
    case UnaryOp::Sigmoid:
      return runUnary(x, out, n, kCheap, [](float v) { return 1.f / (1.f + fastExp(-v)); });
    // Keeps NaN, as the tfjs cpu kernel does.
    case UnaryOp::Relu: return runUnary(x, out, n, kCheap, [](float v) { return v < 0.f ? 0.f : v; });
    case UnaryOp::Abs: return runUnary(x, out, n, kCheap, [](float v) { return std::fabs(v); });
    case UnaryOp::Reciprocal: return runUnary(x, out, n, kCheap, [](float v) { return 1.f / v; });
    case UnaryOp::Erf: return runUnary(x, out, n, kTranscendental, [](float v) { return std::erf(v); });
    case UnaryOp::GeluTanh:
      return runUnary(x, out, n, kCheap, [](float v) { return v / (1.f + fastExp(-v * (kGeluA + kGeluB * v * v))); });
  }
}

}  // namespace difflab
