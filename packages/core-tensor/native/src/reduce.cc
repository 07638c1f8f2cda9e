// Reductions, transposes and softmax. Each first collapses its shape to the fewest dimensions
// (adjacent reduced/kept or adjacent permuted axes merge), then runs a loop for that pattern.
#include <cmath>
#include <cstring>
#include <limits>

#include "fastmath.h"
#include "kernels.h"
#include "parallel.h"

namespace difflab {

namespace {

struct Group {
  int64_t size;
  bool reduced;
};

std::vector<Group> groupAxes(const Shape& shape, const std::vector<int>& axes) {
  std::vector<bool> isReduced(shape.size(), false);
  for (int a : axes) isReduced[a] = true;
  std::vector<Group> groups;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!groups.empty() && groups.back().reduced == isReduced[i]) {
      groups.back().size *= shape[i];
    } else {
      groups.push_back({shape[i], isReduced[i]});
    }
  }
  return groups;
}

// Sums in double: rows here can be long (a bias gradient sums batch x tokens rows).
double sumRow(const float* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  }
  double s = 0;
  for (; i < n; ++i) s += x[i];
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

inline float maxOf(float m, float v) { return (v > m || std::isnan(v)) ? v : m; }
inline float minOf(float m, float v) { return (v < m || std::isnan(v)) ? v : m; }

float extremeRow(ReduceOp op, const float* x, int64_t n) {
  float m = x[0];
  if (op == ReduceOp::Max) {
    for (int64_t i = 1; i < n; ++i) m = maxOf(m, x[i]);
  } else {
    for (int64_t i = 1; i < n; ++i) m = minOf(m, x[i]);
  }
  return m;
}

// out[c] = reduce over r of x[r * cols + c] for c in [c0, c1).
void reduceColumns(ReduceOp op, const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1,
                   float* out, double scale) {
  const int64_t w = c1 - c0;
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
    std::vector<double> acc(w, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols + c0;
      for (int64_t c = 0; c < w; ++c) acc[c] += row[c];
    }
    for (int64_t c = 0; c < w; ++c) out[c0 + c] = static_cast<float>(acc[c] * scale);
    return;
  }
  std::memcpy(out + c0, x + c0, sizeof(float) * w);
  for (int64_t r = 1; r < rows; ++r) {
    const float* row = x + r * cols + c0;
    if (op == ReduceOp::Max) {
      for (int64_t c = 0; c < w; ++c) out[c0 + c] = maxOf(out[c0 + c], row[c]);
    } else {
      for (int64_t c = 0; c < w; ++c) out[c0 + c] = minOf(out[c0 + c], row[c]);
    }
  }
}

float reduceRow(ReduceOp op, const float* x, int64_t n, double scale) {
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) return static_cast<float>(sumRow(x, n) * scale);
  return extremeRow(op, x, n);
}

}  // namespace

void reduce(ReduceOp op, const float* x, const Shape& shape, const std::vector<int>& axes, float* out) {
  int64_t reducedCount = 1, outCount = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    bool r = false;
    for (int a : axes) r = r || a == static_cast<int>(i);
    (r ? reducedCount : outCount) *= shape[i];
  }
  const double scale = op == ReduceOp::Mean ? 1.0 / static_cast<double>(reducedCount) : 1.0;
  std::vector<Group> g = groupAxes(shape, axes);
  // Normalise to the three-group pattern [kept outer, reduced, kept inner], any part possibly 1.
  if (g.size() <= 3) {
    int64_t outer = 1, red = 1, inner = 1;
    size_t i = 0;
    if (i < g.size() && !g[i].reduced) outer = g[i++].size;
    if (i < g.size() && g[i].reduced) red = g[i++].size;
    if (i < g.size() && !g[i].reduced) inner = g[i++].size;
    if (i == g.size()) {
      if (inner == 1) {
        parallelFor(outer, red, [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) out[o] = reduceRow(op, x + o * red, red, scale);
        });
      } else if (outer >= numThreads()) {
        parallelFor(outer, red * inner, [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) reduceColumns(op, x + o * red * inner, red, inner, 0, inner, out + o * inner, scale);
        });
      } else {
        for (int64_t o = 0; o < outer; ++o) {
          parallelFor(inner, red, [&](int64_t c0, int64_t c1) {
            reduceColumns(op, x + o * red * inner, red, inner, c0, c1, out + o * inner, scale);
          });
        }
      }
      return;
    }
  }
  // Any other pattern: move the reduced axes last, then reduce rows.
  std::vector<int> perm;
  std::vector<int> reducedAxes;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    bool r = false;
    for (int a : axes) r = r || a == i;
    (r ? reducedAxes : perm).push_back(i);
  }
  perm.insert(perm.end(), reducedAxes.begin(), reducedAxes.end());
  std::vector<float> tmp(static_cast<size_t>(outCount * reducedCount));
  transpose(x, shape, perm, tmp.data());
  parallelFor(outCount, reducedCount, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) out[o] = reduceRow(op, tmp.data() + o * reducedCount, reducedCount, scale);
  });
}

void transpose(const float* x, const Shape& shape, const std::vector<int>& perm, float* out) {
  const int r = static_cast<int>(shape.size());
  int64_t total = 1;
  std::vector<int64_t> inStride(r);
  for (int i = r - 1; i >= 0; --i) {
    inStride[i] = total;
    total *= shape[i];
  }
  if (total == 0) return;
  // Output dims in order with their input strides, dropping size-1 dims and merging runs that
  // stay adjacent in the input.
  std::vector<int64_t> dims, strides;
  for (int i = 0; i < r; ++i) {
    const int64_t d = shape[perm[i]];
    const int64_t s = inStride[perm[i]];
    if (d == 1) continue;
    if (!dims.empty() && strides.back() == s * d) {
      dims.back() *= d;
      strides.back() = s;
    } else {
      dims.push_back(d);
      strides.push_back(s);
    }
  }
  if (dims.empty()) {
    out[0] = x[0];
    return;
  }
  const int n = static_cast<int>(dims.size());
  const int64_t inner = dims[n - 1];
  const int64_t innerStride = strides[n - 1];
  // The output dim that reads the input contiguously: tile it against the innermost output dim.
  int unitDim = -1;
  for (int i = 0; i < n - 1; ++i) {
    if (strides[i] == 1) unitDim = i;
  }
  if (innerStride == 1 || unitDim < 0) {
    const int64_t rows = total / inner;
    parallelFor(rows, inner, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t off = 0, rem = row;
        for (int d = n - 2; d >= 0; --d) {
          off += (rem % dims[d]) * strides[d];
          rem /= dims[d];
        }
        float* o = out + row * inner;
        const float* in = x + off;
        if (innerStride == 1) {
          std::memcpy(o, in, sizeof(float) * inner);
        } else {
          for (int64_t c = 0; c < inner; ++c) o[c] = in[c * innerStride];
        }
      }
    });
    return;
  }
  // Blocked 2-D transpose between unitDim (input-contiguous) and the last dim (output-contiguous).
  std::vector<int64_t> outStride(n);
  {
    int64_t s = 1;
    for (int i = n - 1; i >= 0; --i) {
      outStride[i] = s;
      s *= dims[i];
    }
  }
  const int64_t rowsU = dims[unitDim];
  const int64_t others = total / (inner * rowsU);
  constexpr int64_t kTile = 32;
  const int64_t uBlocks = (rowsU + kTile - 1) / kTile;
  parallelFor(others * uBlocks, kTile * inner, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      int64_t rem = item / uBlocks;
      const int64_t u0 = (item % uBlocks) * kTile;
      const int64_t u1 = std::min(rowsU, u0 + kTile);
      int64_t inOff = 0, outOff = 0;
      for (int d = n - 2; d >= 0; --d) {
        if (d == unitDim) continue;
        const int64_t idx = rem % dims[d];
        rem /= dims[d];
        inOff += idx * strides[d];
        outOff += idx * outStride[d];
      }
      for (int64_t c0 = 0; c0 < inner; c0 += kTile) {
        const int64_t c1 = std::min(inner, c0 + kTile);
        for (int64_t u = u0; u < u1; ++u) {
          const float* in = x + inOff + u;
          float* o = out + outOff + u * outStride[unitDim];
          for (int64_t c = c0; c < c1; ++c) o[c] = in[c * innerStride];
        }
      }
    }
  });
}

void slice(const float* x, const Shape& shape, const Shape& begin, const Shape& size, float* out) {
  const int r = static_cast<int>(shape.size());
  int64_t total = 1;
  for (int64_t d : size) total *= d;
  if (total == 0) return;
  // Trailing axes taken whole merge into one contiguous run with the first partial axis before them.
  int64_t run = 1, offset = 0, stride = 1;
  int split = r - 1;
  for (; split >= 0; --split) {
    run *= size[split];
    if (size[split] != shape[split]) break;
  }
  std::vector<int64_t> strides(r);
  for (int i = r - 1; i >= 0; --i) {
    strides[i] = stride;
    offset += begin[i] * stride;
    stride *= shape[i];
  }
  const int64_t rows = total / run;
  parallelFor(rows, run, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t off = offset, rem = row;
      for (int d = split - 1; d >= 0; --d) {
        off += (rem % size[d]) * strides[d];
        rem /= size[d];
      }
      std::memcpy(out + row * run, x + off, sizeof(float) * run);
    }
  });
}

void softmax(const float* x, float* out, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  parallelFor(rows, cols * 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* in = x + r * cols;
      float* o = out + r * cols;
      float m = in[0];
      for (int64_t c = 1; c < cols; ++c) m = in[c] > m ? in[c] : m;
      for (int64_t c = 0; c < cols; ++c) o[c] = fastExp(in[c] - m);
      float s = 0.f;
      for (int64_t c = 0; c < cols; ++c) s += o[c];
      const float inv = 1.f / s;
      for (int64_t c = 0; c < cols; ++c) o[c] *= inv;
    }
  });
}

}  // namespace difflab
