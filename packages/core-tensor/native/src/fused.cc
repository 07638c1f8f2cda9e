// Fused transformer kernels: layer norm + adaLN modulate, adaLN-Zero's gated residual.
// Each replaces a chain of broadcasting elementwise ops and reductions (and the intermediates tfjs
// keeps for the backward pass) with one pass over the rows.
#include <cmath>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace difflab {

namespace {

// Sums in double over eight interleaved lanes: one serial chain of double adds is four cycles an
// element (a DiT row of 64 took longer than the rest of the kernel); eight lanes vectorise.
template <class Term>
double laneSum(int64_t n, Term term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += term(c + j);
  }
  double s = 0;
  for (; c < n; ++c) s += term(c);
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Mean and 1/sqrt(var + eps) of one row, both in double; uncentred (RMSNorm), the mean is 0 and var = mean(x²).
void rowStats(const float* x, int64_t cols, float eps, bool center, float* mean, float* rstd) {
  const double m = center ? laneSum(cols, [&](int64_t c) { return static_cast<double>(x[c]); }) / static_cast<double>(cols) : 0.0;
  const double v = laneSum(cols, [&](int64_t c) {
    const double d = x[c] - m;
    return d * d;
  });
  *mean = static_cast<float>(m);
  *rstd = static_cast<float>(1.0 / std::sqrt(v / static_cast<double>(cols) + eps));
}

}  // namespace

void layerNormModulate(const float* x, const float* shift, const float* scale, int64_t groups,
                       int64_t rowsPerGroup, int64_t cols, float eps, bool center, float* y, float* mean, float* rstd) {
  const int64_t rows = groups * rowsPerGroup;
  parallelFor(rows, cols * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      const float* sh = shift + (r / rowsPerGroup) * cols;
      const float* sc = scale + (r / rowsPerGroup) * cols;
      rowStats(xr, cols, eps, center, &mean[r], &rstd[r]);
      const float m = mean[r], s = rstd[r];
      float* yr = y + r * cols;
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * s * (sc[c] + 1.f) + sh[c];
    }
  });
}

void layerNormModulateGrad(const float* dy, const float* x, const float* mean, const float* rstd,
                           const float* scale, int64_t groups, int64_t rowsPerGroup, int64_t cols, bool center,
                           float* dx, float* dscale, float* dshift) {
  // One group (batch item) per task: its modulation gradients sum over the group's rows only.
  parallelFor(groups, rowsPerGroup * cols * 8, [&](int64_t g0, int64_t g1) {
    std::vector<double> accScale(cols), accShift(cols);
    std::vector<float> xhat(cols);
    for (int64_t g = g0; g < g1; ++g) {
      std::fill(accScale.begin(), accScale.end(), 0.0);
      std::fill(accShift.begin(), accShift.end(), 0.0);
      const float* sc = scale + g * cols;
      for (int64_t r = g * rowsPerGroup; r < (g + 1) * rowsPerGroup; ++r) {
        const float* xr = x + r * cols;
        const float* dyr = dy + r * cols;
        const float m = mean[r], s = rstd[r];
        // dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)), g = dy · (1 + scale); uncentred (RMSNorm) without mean(g).
        for (int64_t c = 0; c < cols; ++c) {
          const float xh = (xr[c] - m) * s;
          xhat[c] = xh;
          accShift[c] += dyr[c];
          accScale[c] += dyr[c] * xh;
        }
        const double sumG = center ? laneSum(cols, [&](int64_t c) { return static_cast<double>(dyr[c] * (sc[c] + 1.f)); }) : 0.0;
        const double sumGX = laneSum(cols, [&](int64_t c) { return static_cast<double>(dyr[c] * (sc[c] + 1.f)) * xhat[c]; });
        const float mg = static_cast<float>(sumG / static_cast<double>(cols));
        const float mgx = static_cast<float>(sumGX / static_cast<double>(cols));
        float* dxr = dx + r * cols;
        for (int64_t c = 0; c < cols; ++c) dxr[c] = s * (dyr[c] * (sc[c] + 1.f) - mg - xhat[c] * mgx);
      }
      for (int64_t c = 0; c < cols; ++c) {
        dscale[g * cols + c] = static_cast<float>(accScale[c]);
        dshift[g * cols + c] = static_cast<float>(accShift[c]);
      }
    }
  });
}

void gatedResidual(const float* h, const float* gate, const float* x, int64_t groups, int64_t rowsPerGroup,
                   int64_t cols, float* out) {
  const int64_t rows = groups * rowsPerGroup;
  parallelFor(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = gate + (r / rowsPerGroup) * cols;
      const float* hr = h + r * cols;
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      for (int64_t c = 0; c < cols; ++c) o[c] = hr[c] + g[c] * xr[c];
    }
  });
}

void gatedResidualGrad(const float* dy, const float* gate, const float* x, int64_t groups, int64_t rowsPerGroup,
                       int64_t cols, float* dx, float* dgate) {
  parallelFor(groups, rowsPerGroup * cols * 2, [&](int64_t g0, int64_t g1) {
    std::vector<double> acc(cols);
    for (int64_t gi = g0; gi < g1; ++gi) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* g = gate + gi * cols;
      for (int64_t r = gi * rowsPerGroup; r < (gi + 1) * rowsPerGroup; ++r) {
        const float* dyr = dy + r * cols;
        const float* xr = x + r * cols;
        float* dxr = dx + r * cols;
        for (int64_t c = 0; c < cols; ++c) {
          dxr[c] = dyr[c] * g[c];
          acc[c] += dyr[c] * xr[c];
        }
      }
      for (int64_t c = 0; c < cols; ++c) dgate[gi * cols + c] = static_cast<float>(acc[c]);
    }
  });
}

}  // namespace difflab
