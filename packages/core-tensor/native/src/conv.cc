// 2-D convolution (NHWC input, HWIO filter) as im2col + GEMM, and its two gradients
// (GEMM + col2im for the input, im2col + GEMM for the filter). Images are processed in chunks so
// the column matrix stays a few tens of MB whatever the batch.
#include <cstring>

#include "kernels.h"
#include "parallel.h"

namespace difflab {

namespace {

constexpr int64_t kColBudget = 1 << 23;  // floats in one column matrix (32 MB)

int64_t patchSize(const ConvGeometry& g) { return g.filterH * g.filterW * g.inC; }

bool isPointwise(const ConvGeometry& g) {
  return g.filterH == 1 && g.filterW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 &&
         g.padLeft == 0 && g.outH == g.inH && g.outW == g.inW;
}

int64_t imagesPerChunk(const ConvGeometry& g) {
  const int64_t perImage = g.outH * g.outW * patchSize(g);
  return std::max<int64_t>(1, std::min<int64_t>(g.batch, kColBudget / std::max<int64_t>(1, perImage)));
}

// col[(i * outH + oh) * outW + ow][(fh * filterW + fw) * inC + c] for images [n0, n0 + count).
void im2col(const ConvGeometry& g, const float* x, int64_t n0, int64_t count, float* col) {
  const int64_t kk = patchSize(g);
  parallelFor(count * g.outH, g.outW * kk, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t i = item / g.outH, oh = item % g.outH;
      const float* img = x + (n0 + i) * g.inH * g.inW * g.inC;
      for (int64_t ow = 0; ow < g.outW; ++ow) {
        float* dst = col + (item * g.outW + ow) * kk;
        for (int64_t fh = 0; fh < g.filterH; ++fh) {
          const int64_t ih = oh * g.strideH - g.padTop + fh * g.dilationH;
          for (int64_t fw = 0; fw < g.filterW; ++fw) {
            const int64_t iw = ow * g.strideW - g.padLeft + fw * g.dilationW;
            float* d = dst + (fh * g.filterW + fw) * g.inC;
            if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) {
              std::memset(d, 0, sizeof(float) * g.inC);
            } else {
              std::memcpy(d, img + (ih * g.inW + iw) * g.inC, sizeof(float) * g.inC);
            }
          }
        }
      }
    }
  });
}

// dx[image] += col2im(dcol) for images [n0, n0 + count); each image is one thread's.
void col2im(const ConvGeometry& g, const float* col, int64_t n0, int64_t count, float* dx) {
  const int64_t kk = patchSize(g);
  parallelFor(count, g.outH * g.outW * kk, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* img = dx + (n0 + i) * g.inH * g.inW * g.inC;
      for (int64_t oh = 0; oh < g.outH; ++oh) {
        for (int64_t ow = 0; ow < g.outW; ++ow) {
          const float* src = col + ((i * g.outH + oh) * g.outW + ow) * kk;
          for (int64_t fh = 0; fh < g.filterH; ++fh) {
            const int64_t ih = oh * g.strideH - g.padTop + fh * g.dilationH;
            if (ih < 0 || ih >= g.inH) continue;
            for (int64_t fw = 0; fw < g.filterW; ++fw) {
              const int64_t iw = ow * g.strideW - g.padLeft + fw * g.dilationW;
              if (iw < 0 || iw >= g.inW) continue;
              const float* s = src + (fh * g.filterW + fw) * g.inC;
              float* d = img + (ih * g.inW + iw) * g.inC;
              for (int64_t c = 0; c < g.inC; ++c) d[c] += s[c];
            }
          }
        }
      }
    }
  });
}

}  // namespace

void conv2d(const ConvGeometry& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  const int64_t kk = patchSize(g), pixels = g.outH * g.outW;
  if (isPointwise(g)) {
    gemm(x, w, y, g.batch * pixels, g.outC, kk, false, false, 0.f, ep);
    return;
  }
  const int64_t chunk = imagesPerChunk(g);
  std::vector<float> col(static_cast<size_t>(chunk * pixels * kk));
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0);
    im2col(g, x, n0, count, col.data());
    gemm(col.data(), w, y + n0 * pixels * g.outC, count * pixels, g.outC, kk, false, false, 0.f, ep);
  }
}

void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const int64_t kk = patchSize(g), pixels = g.outH * g.outW;
  if (isPointwise(g)) {
    gemm(dy, w, dx, g.batch * pixels, kk, g.outC, false, true, 0.f, Epilogue{});
    return;
  }
  std::memset(dx, 0, sizeof(float) * g.batch * g.inH * g.inW * g.inC);
  const int64_t chunk = imagesPerChunk(g);
  std::vector<float> col(static_cast<size_t>(chunk * pixels * kk));
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0);
    gemm(dy + n0 * pixels * g.outC, w, col.data(), count * pixels, kk, g.outC, false, true, 0.f, Epilogue{});
    col2im(g, col.data(), n0, count, dx);
  }
}

void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  const int64_t kk = patchSize(g), pixels = g.outH * g.outW;
  if (isPointwise(g)) {
    gemm(x, dy, dw, kk, g.outC, g.batch * pixels, true, false, 0.f, Epilogue{});
    return;
  }
  const int64_t chunk = imagesPerChunk(g);
  std::vector<float> col(static_cast<size_t>(chunk * pixels * kk));
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0);
    im2col(g, x, n0, count, col.data());
    gemm(col.data(), dy + n0 * pixels * g.outC, dw, kk, g.outC, count * pixels, true, false,
         n0 == 0 ? 0.f : 1.f, Epilogue{});
  }
}

}  // namespace difflab
