// Node-API surface of the native backend. Every entry point checks that the typed arrays it is
// given are as long as the shapes say before any kernel touches memory, and throws otherwise.
#include <napi.h>

#include <string>

#include "kernels.h"

namespace difflab {

// Float64 LAPACK/BLAS entry points for core-tensor's linalg (lapack.cc).
void registerLinalg(Napi::Env env, Napi::Object exports);

namespace {

float* floats(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Float32Array");
  }
  return v.As<Napi::Float32Array>().Data();
}

size_t floatCount(const Napi::Value& v) { return v.As<Napi::Float32Array>().ElementLength(); }

Shape shapeOf(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be an array of sizes");
  Napi::Array arr = v.As<Napi::Array>();
  Shape s(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const int64_t d = arr.Get(i).As<Napi::Number>().Int64Value();
    if (d < 0) throw Napi::RangeError::New(v.Env(), std::string(name) + " has a negative size");
    s[i] = d;
  }
  return s;
}

std::vector<int> intsOf(const Napi::Value& v, const char* name) {
  Shape s = shapeOf(v, name);
  return std::vector<int>(s.begin(), s.end());
}

int64_t sizeOf(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

void requireLength(const Napi::Env& env, const Napi::Value& v, const char* name, int64_t expected) {
  if (static_cast<int64_t>(floatCount(v)) < expected) {
    throw Napi::RangeError::New(env, std::string(name) + " has " + std::to_string(floatCount(v)) +
                                         " elements; its shape needs " + std::to_string(expected));
  }
}

int64_t num(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }

Epilogue epilogueOf(const Napi::CallbackInfo& info, size_t at, int64_t n) {
  Epilogue ep;
  if (!info[at].IsNull() && !info[at].IsUndefined()) {
    ep.bias = floats(info[at], "bias");
    requireLength(info.Env(), info[at], "bias", n);
  }
  const int64_t act = num(info, at + 1);
  if (act < 0 || act > static_cast<int64_t>(Activation::Sigmoid)) {
    throw Napi::RangeError::New(info.Env(), "unknown activation code " + std::to_string(act));
  }
  ep.act = static_cast<Activation>(act);
  ep.alpha = info[at + 2].As<Napi::Number>().FloatValue();
  return ep;
}

// matmul(a, b, out, aOffsets: Int32Array, bOffsets: Int32Array, m, n, k, transA, transB, bias, act, alpha)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const float* a = floats(info[0], "a");
  const float* b = floats(info[1], "b");
  float* out = floats(info[2], "out");
  Napi::Int32Array aOffArr = info[3].As<Napi::Int32Array>();
  Napi::Int32Array bOffArr = info[4].As<Napi::Int32Array>();
  const int64_t m = num(info, 5), n = num(info, 6), k = num(info, 7);
  const bool transA = info[8].As<Napi::Boolean>().Value();
  const bool transB = info[9].As<Napi::Boolean>().Value();
  const Epilogue ep = epilogueOf(info, 10, n);
  const int64_t batch = static_cast<int64_t>(aOffArr.ElementLength());
  if (static_cast<int64_t>(bOffArr.ElementLength()) != batch) {
    throw Napi::RangeError::New(env, "aOffsets and bOffsets differ in length");
  }
  requireLength(env, info[2], "out", batch * m * n);
  std::vector<int64_t> aOff(batch), bOff(batch);
  for (int64_t i = 0; i < batch; ++i) {
    aOff[i] = aOffArr[static_cast<size_t>(i)];
    bOff[i] = bOffArr[static_cast<size_t>(i)];
    if (aOff[i] < 0 || aOff[i] + m * k > static_cast<int64_t>(floatCount(info[0])) || bOff[i] < 0 ||
        bOff[i] + k * n > static_cast<int64_t>(floatCount(info[1]))) {
      throw Napi::RangeError::New(env, "matmul batch offset out of range");
    }
  }
  batchedGemm(a, b, out, batch, aOff.data(), bOff.data(), m, n, k, transA, transB, ep);
  return env.Undefined();
}

// binary(op, a, aShape, b, bShape, out, outShape)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t op = num(info, 0);
  if (op < 0 || op > static_cast<int64_t>(BinaryOp::SquaredDiff)) throw Napi::RangeError::New(env, "unknown binary op");
  const Shape aShape = shapeOf(info[2], "aShape"), bShape = shapeOf(info[4], "bShape"),
              outShape = shapeOf(info[6], "outShape");
  if (outShape.size() > 12 || aShape.size() > outShape.size() || bShape.size() > outShape.size()) {
    throw Napi::RangeError::New(env, "binary: ranks must be at most 12 and at most the output rank");
  }
  for (const Shape* s : {&aShape, &bShape}) {
    for (size_t i = 0; i < s->size(); ++i) {
      const int64_t d = (*s)[i], o = outShape[outShape.size() - s->size() + i];
      if (d != o && d != 1) throw Napi::RangeError::New(env, "binary: operand shape does not broadcast to outShape");
    }
  }
  requireLength(env, info[1], "a", sizeOf(aShape));
  requireLength(env, info[3], "b", sizeOf(bShape));
  requireLength(env, info[5], "out", sizeOf(outShape));
  binary(static_cast<BinaryOp>(op), floats(info[1], "a"), aShape, floats(info[3], "b"), bShape,
         floats(info[5], "out"), outShape);
  return env.Undefined();
}

// unary(op, x, out)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t op = num(info, 0);
  if (op < 0 || op > static_cast<int64_t>(UnaryOp::GeluTanh)) throw Napi::RangeError::New(env, "unknown unary op");
  const int64_t n = static_cast<int64_t>(floatCount(info[1]));
  float* x = floats(info[1], "x");
  requireLength(env, info[2], "out", n);
  unary(static_cast<UnaryOp>(op), x, floats(info[2], "out"), n);
  return env.Undefined();
}

// swigluGate(a, g, y)
Napi::Value SwigluGate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* a = floats(info[0], "a");
  float* g = floats(info[1], "g");
  float* y = floats(info[2], "y");
  const int64_t n = static_cast<int64_t>(floatCount(info[0]));
  requireLength(env, info[1], "g", n);
  requireLength(env, info[2], "y", n);
  swigluGate(a, g, y, n);
  return env.Undefined();
}

// swigluGateGrad(dy, a, g, da, dg)
Napi::Value SwigluGateGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* dy = floats(info[0], "dy");
  float* a = floats(info[1], "a");
  float* g = floats(info[2], "g");
  float* da = floats(info[3], "da");
  float* dg = floats(info[4], "dg");
  const int64_t n = static_cast<int64_t>(floatCount(info[1]));
  requireLength(env, info[0], "dy", n);
  requireLength(env, info[2], "g", n);
  requireLength(env, info[3], "da", n);
  requireLength(env, info[4], "dg", n);
  swigluGateGrad(dy, a, g, da, dg, n);
  return env.Undefined();
}

// geluTanhGrad(dy, x, dx)
Napi::Value GeluTanhGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* dy = floats(info[0], "dy");
  float* x = floats(info[1], "x");
  float* dx = floats(info[2], "dx");
  const int64_t n = static_cast<int64_t>(floatCount(info[1]));
  requireLength(env, info[0], "dy", n);
  requireLength(env, info[2], "dx", n);
  geluTanhGrad(dy, x, dx, n);
  return env.Undefined();
}

// reduce(op, x, shape, axes, out)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t op = num(info, 0);
  if (op < 0 || op > static_cast<int64_t>(ReduceOp::Min)) throw Napi::RangeError::New(env, "unknown reduce op");
  const Shape shape = shapeOf(info[2], "shape");
  const std::vector<int> axes = intsOf(info[3], "axes");
  int64_t outCount = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    bool r = false;
    for (int a : axes) r = r || a == static_cast<int>(i);
    if (!r) outCount *= shape[i];
  }
  for (int a : axes) {
    if (a < 0 || a >= static_cast<int>(shape.size())) throw Napi::RangeError::New(env, "reduce: axis out of range");
  }
  if (sizeOf(shape) == 0) throw Napi::RangeError::New(env, "reduce: empty input");
  requireLength(env, info[1], "x", sizeOf(shape));
  requireLength(env, info[4], "out", outCount);
  reduce(static_cast<ReduceOp>(op), floats(info[1], "x"), shape, axes, floats(info[4], "out"));
  return env.Undefined();
}

// transpose(x, shape, perm, out)
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Shape shape = shapeOf(info[1], "shape");
  const std::vector<int> perm = intsOf(info[2], "perm");
  if (perm.size() != shape.size()) throw Napi::RangeError::New(env, "transpose: perm length differs from rank");
  std::vector<bool> seen(shape.size(), false);
  for (int p : perm) {
    if (p < 0 || p >= static_cast<int>(shape.size()) || seen[p]) throw Napi::RangeError::New(env, "transpose: perm is not a permutation");
    seen[p] = true;
  }
  requireLength(env, info[0], "x", sizeOf(shape));
  requireLength(env, info[3], "out", sizeOf(shape));
  transpose(floats(info[0], "x"), shape, perm, floats(info[3], "out"));
  return env.Undefined();
}

// slice(x, shape, begin, size, out)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Shape shape = shapeOf(info[1], "shape"), begin = shapeOf(info[2], "begin"), size = shapeOf(info[3], "size");
  if (begin.size() != shape.size() || size.size() != shape.size()) throw Napi::RangeError::New(env, "slice: begin and size need one entry per axis");
  for (size_t i = 0; i < shape.size(); ++i) {
    if (begin[i] + size[i] > shape[i]) throw Napi::RangeError::New(env, "slice: begin + size exceeds the shape on axis " + std::to_string(i));
  }
  requireLength(env, info[0], "x", sizeOf(shape));
  requireLength(env, info[4], "out", sizeOf(size));
  slice(floats(info[0], "x"), shape, begin, size, floats(info[4], "out"));
  return env.Undefined();
}

// softmax(x, out, rows, cols)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = num(info, 2), cols = num(info, 3);
  requireLength(env, info[0], "x", rows * cols);
  requireLength(env, info[1], "out", rows * cols);
  softmax(floats(info[0], "x"), floats(info[1], "out"), rows, cols);
  return env.Undefined();
}

// layerNormModulate(x, shift, scale, groups, rowsPerGroup, cols, eps, y, mean, rstd, center)
Napi::Value LayerNormModulate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t groups = num(info, 3), perGroup = num(info, 4), cols = num(info, 5);
  const float eps = info[6].As<Napi::Number>().FloatValue();
  if (groups < 0 || perGroup < 0 || cols < 1) throw Napi::RangeError::New(env, "layerNormModulate: sizes must be non-negative and cols at least 1");
  requireLength(env, info[0], "x", groups * perGroup * cols);
  requireLength(env, info[1], "shift", groups * cols);
  requireLength(env, info[2], "scale", groups * cols);
  requireLength(env, info[7], "y", groups * perGroup * cols);
  requireLength(env, info[8], "mean", groups * perGroup);
  requireLength(env, info[9], "rstd", groups * perGroup);
  const bool center = info[10].As<Napi::Boolean>().Value();
  layerNormModulate(floats(info[0], "x"), floats(info[1], "shift"), floats(info[2], "scale"), groups, perGroup, cols, eps, center,
                    floats(info[7], "y"), floats(info[8], "mean"), floats(info[9], "rstd"));
  return env.Undefined();
}

// layerNormModulateGrad(dy, x, mean, rstd, scale, groups, rowsPerGroup, cols, dx, dscale, dshift, center)
Napi::Value LayerNormModulateGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t groups = num(info, 5), perGroup = num(info, 6), cols = num(info, 7);
  if (groups < 0 || perGroup < 0 || cols < 1) throw Napi::RangeError::New(env, "layerNormModulateGrad: sizes must be non-negative and cols at least 1");
  const int64_t rows = groups * perGroup;
  requireLength(env, info[0], "dy", rows * cols);
  requireLength(env, info[1], "x", rows * cols);
  requireLength(env, info[2], "mean", rows);
  requireLength(env, info[3], "rstd", rows);
  requireLength(env, info[4], "scale", groups * cols);
  requireLength(env, info[8], "dx", rows * cols);
  requireLength(env, info[9], "dscale", groups * cols);
  requireLength(env, info[10], "dshift", groups * cols);
  layerNormModulateGrad(floats(info[0], "dy"), floats(info[1], "x"), floats(info[2], "mean"), floats(info[3], "rstd"),
                        floats(info[4], "scale"), groups, perGroup, cols, info[11].As<Napi::Boolean>().Value(), floats(info[8], "dx"),
                        floats(info[9], "dscale"), floats(info[10], "dshift"));
  return env.Undefined();
}

// rotaryPairs(x, cos, sin, batch, tokens, pairs, inverse, y)
Napi::Value RotaryPairs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t b = num(info, 3), n = num(info, 4), p = num(info, 5);
  if (b < 0 || n < 0 || p < 0) throw Napi::RangeError::New(env, "rotaryPairs: batch, tokens and pairs must be non-negative");
  // Types first, so a wrong array is named as such rather than measured in the wrong element size.
  const float* x = floats(info[0], "x");
  const float* cos = floats(info[1], "cos");
  const float* sin = floats(info[2], "sin");
  float* y = floats(info[7], "y");
  requireLength(env, info[0], "x", b * n * 2 * p);
  requireLength(env, info[1], "cos", n * p);
  requireLength(env, info[2], "sin", n * p);
  requireLength(env, info[7], "y", b * n * 2 * p);
  rotaryPairs(x, cos, sin, b, n, p, info[6].ToBoolean().Value(), y);
  return env.Undefined();
}

// gatedResidual(h, gate, x, groups, rowsPerGroup, cols, out)
Napi::Value GatedResidual(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t groups = num(info, 3), perGroup = num(info, 4), cols = num(info, 5);
  if (groups < 0 || perGroup < 0 || cols < 0) throw Napi::RangeError::New(env, "gatedResidual: sizes must be non-negative");
  requireLength(env, info[0], "h", groups * perGroup * cols);
  requireLength(env, info[1], "gate", groups * cols);
  requireLength(env, info[2], "x", groups * perGroup * cols);
  requireLength(env, info[6], "out", groups * perGroup * cols);
  gatedResidual(floats(info[0], "h"), floats(info[1], "gate"), floats(info[2], "x"), groups, perGroup, cols, floats(info[6], "out"));
  return env.Undefined();
}

// gatedResidualGrad(dy, gate, x, groups, rowsPerGroup, cols, dx, dgate)
Napi::Value GatedResidualGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t groups = num(info, 3), perGroup = num(info, 4), cols = num(info, 5);
  if (groups < 0 || perGroup < 0 || cols < 0) throw Napi::RangeError::New(env, "gatedResidualGrad: sizes must be non-negative");
  requireLength(env, info[0], "dy", groups * perGroup * cols);
  requireLength(env, info[1], "gate", groups * cols);
  requireLength(env, info[2], "x", groups * perGroup * cols);
  requireLength(env, info[6], "dx", groups * perGroup * cols);
  requireLength(env, info[7], "dgate", groups * cols);
  gatedResidualGrad(floats(info[0], "dy"), floats(info[1], "gate"), floats(info[2], "x"), groups, perGroup, cols,
                    floats(info[6], "dx"), floats(info[7], "dgate"));
  return env.Undefined();
}

// attention(qkv, batch, tokens, heads, headDim, out, probs)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t b = num(info, 1), n = num(info, 2), h = num(info, 3), hd = num(info, 4);
  if (b < 0 || n < 1 || h < 1 || hd < 1) throw Napi::RangeError::New(env, "attention: batch must be ≥ 0 and tokens, heads, headDim ≥ 1");
  requireLength(env, info[0], "qkv", b * n * 3 * h * hd);
  requireLength(env, info[5], "out", b * n * h * hd);
  requireLength(env, info[6], "probs", b * h * n * n);
  attention(floats(info[0], "qkv"), b, n, h, hd, floats(info[5], "out"), floats(info[6], "probs"));
  return env.Undefined();
}

// attentionGrad(dy, qkv, probs, batch, tokens, heads, headDim, dqkv)
Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t b = num(info, 3), n = num(info, 4), h = num(info, 5), hd = num(info, 6);
  if (b < 0 || n < 1 || h < 1 || hd < 1) throw Napi::RangeError::New(env, "attentionGrad: batch must be ≥ 0 and tokens, heads, headDim ≥ 1");
  requireLength(env, info[0], "dy", b * n * h * hd);
  requireLength(env, info[1], "qkv", b * n * 3 * h * hd);
  requireLength(env, info[2], "probs", b * h * n * n);
  requireLength(env, info[7], "dqkv", b * n * 3 * h * hd);
  attentionGrad(floats(info[0], "dy"), floats(info[1], "qkv"), floats(info[2], "probs"), b, n, h, hd, floats(info[7], "dqkv"));
  return env.Undefined();
}

// sumsOfSquares(xs: Float32Array[], sizes: Float64Array, out: Float32Array)
Napi::Value SumsOfSquares(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "sumsOfSquares: xs must be an array of Float32Arrays");
  Napi::Array xs = info[0].As<Napi::Array>();
  const size_t count = xs.Length();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[1].As<Napi::Float64Array>().ElementLength() != count) {
    throw Napi::TypeError::New(env, "sumsOfSquares: sizes must be a Float64Array with one size per array");
  }
  Napi::Float64Array sizeArr = info[1].As<Napi::Float64Array>();
  requireLength(env, info[2], "out", static_cast<int64_t>(count));
  float* out = floats(info[2], "out");
  std::vector<const float*> ptrs(count);
  std::vector<int64_t> sizes(count);
  for (size_t j = 0; j < count; ++j) {
    const Napi::Value x = xs.Get(static_cast<uint32_t>(j));
    ptrs[j] = floats(x, "xs[j]");
    sizes[j] = static_cast<int64_t>(sizeArr[j]);
    if (sizes[j] < 0) throw Napi::RangeError::New(env, "sumsOfSquares: negative size");
    requireLength(env, x, "xs[j]", sizes[j]);
  }
  sumsOfSquares(ptrs.data(), sizes.data(), static_cast<int64_t>(count), out);
  return env.Undefined();
}

// adamwEma(arrays, sizes: Float64Array, decay: Uint8Array, scalars: Float64Array(11), scaleGrads: boolean)
// arrays holds 9 entries per parameter: g, pIn, pOut, mIn, mOut, vIn, vOut, eIn, eOut (null where absent;
// see ParamUpdate in kernels.h). scalars: beta1, 1−beta1, beta2, 1−beta2, √(1−beta2ᵗ), eps, stepSize,
// shrink, gradScale, emaDecay, 1−emaDecay.
Napi::Value AdamwEma(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "adamwEma: arrays must be an array");
  Napi::Array arrays = info[0].As<Napi::Array>();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "adamwEma: sizes must be a Float64Array");
  }
  Napi::Float64Array sizeArr = info[1].As<Napi::Float64Array>();
  const size_t count = sizeArr.ElementLength();
  if (arrays.Length() != 9 * count) throw Napi::RangeError::New(env, "adamwEma: arrays needs 9 entries per parameter");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[2].As<Napi::Uint8Array>().ElementLength() != count) {
    throw Napi::TypeError::New(env, "adamwEma: decay must be a Uint8Array with one flag per parameter");
  }
  Napi::Uint8Array decay = info[2].As<Napi::Uint8Array>();
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[3].As<Napi::Float64Array>().ElementLength() != 11) {
    throw Napi::TypeError::New(env, "adamwEma: scalars must be a Float64Array of 11");
  }
  Napi::Float64Array sc = info[3].As<Napi::Float64Array>();
  const AdamWStep step{sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7], sc[8], sc[9], sc[10],
                       info[4].As<Napi::Boolean>().Value()};
  std::vector<ParamUpdate> params(count);
  static const char* names[9] = {"g", "pIn", "pOut", "mIn", "mOut", "vIn", "vOut", "eIn", "eOut"};
  for (size_t j = 0; j < count; ++j) {
    ParamUpdate& u = params[j];
    u.n = static_cast<int64_t>(sizeArr[j]);
    if (u.n < 0) throw Napi::RangeError::New(env, "adamwEma: negative size");
    u.decay = decay[j] != 0;
    float* ptr[9];
    for (int a = 0; a < 9; ++a) {
      const Napi::Value v = arrays.Get(static_cast<uint32_t>(9 * j + a));
      if (v.IsNull() || v.IsUndefined()) {
        ptr[a] = nullptr;
        continue;
      }
      ptr[a] = floats(v, names[a]);
      requireLength(env, v, names[a], u.n);
    }
    u.g = ptr[0];
    u.pIn = ptr[1];
    u.pOut = ptr[2];
    u.mIn = ptr[3];
    u.mOut = ptr[4];
    u.vIn = ptr[5];
    u.vOut = ptr[6];
    u.eIn = ptr[7];
    u.eOut = ptr[8];
    const bool ok = u.pIn && (!u.g || (u.pOut && u.mOut && u.vOut)) && ((u.mIn == nullptr) == (u.vIn == nullptr)) &&
                    ((u.eIn == nullptr) == (u.eOut == nullptr));
    if (!ok) {
      throw Napi::TypeError::New(env, "adamwEma: parameter " + std::to_string(j) +
                                          " needs pIn, and with a gradient pOut, mOut and vOut; mIn/vIn and eIn/eOut come in pairs");
    }
  }
  adamwEma(params, step);
  return env.Undefined();
}

ConvGeometry geometryOf(const Napi::Value& v) {
  const Shape s = shapeOf(v, "geometry");
  if (s.size() != 15) throw Napi::RangeError::New(v.Env(), "conv geometry needs 15 numbers");
  ConvGeometry g{s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12], s[13], s[14]};
  if (g.strideH < 1 || g.strideW < 1 || g.dilationH < 1 || g.dilationW < 1) {
    throw Napi::RangeError::New(v.Env(), "conv strides and dilations must be at least 1");
  }
  return g;
}

int64_t inputSize(const ConvGeometry& g) { return g.batch * g.inH * g.inW * g.inC; }
int64_t outputSize(const ConvGeometry& g) { return g.batch * g.outH * g.outW * g.outC; }
int64_t filterSize(const ConvGeometry& g) { return g.filterH * g.filterW * g.inC * g.outC; }

// conv2d(x, w, y, geometry, bias, act, alpha)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvGeometry g = geometryOf(info[3]);
  requireLength(env, info[0], "x", inputSize(g));
  requireLength(env, info[1], "filter", filterSize(g));
  requireLength(env, info[2], "y", outputSize(g));
  conv2d(g, floats(info[0], "x"), floats(info[1], "filter"), floats(info[2], "y"), epilogueOf(info, 4, g.outC));
  return env.Undefined();
}

// conv2dBackpropInput(dy, w, dx, geometry)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvGeometry g = geometryOf(info[3]);
  requireLength(env, info[0], "dy", outputSize(g));
  requireLength(env, info[1], "filter", filterSize(g));
  requireLength(env, info[2], "dx", inputSize(g));
  conv2dBackpropInput(g, floats(info[0], "dy"), floats(info[1], "filter"), floats(info[2], "dx"));
  return env.Undefined();
}

// conv2dBackpropFilter(x, dy, dw, geometry)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvGeometry g = geometryOf(info[3]);
  requireLength(env, info[0], "x", inputSize(g));
  requireLength(env, info[1], "dy", outputSize(g));
  requireLength(env, info[2], "dw", filterSize(g));
  conv2dBackpropFilter(g, floats(info[0], "x"), floats(info[1], "dy"), floats(info[2], "dw"));
  return env.Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("blas", blasInfo());
  o.Set("threads", numThreads());
  o.Set("bf16Unavailable", bf16Unavailable());
  o.Set("matmulPrecision", matmulPrecision() == MatmulPrecision::Bf16 ? "bf16" : "fp32");
  o.Set("onednnUnavailable", onednnUnavailable());
  o.Set("matmulLibrary", matmulLibrary() == MatmulLibrary::Onednn ? "onednn" : "blas");
  return o;
}

// setMatmulPrecision("fp32" | "bf16"): throws, saying why, where bf16 products cannot run.
Napi::Value SetMatmulPrecision(const Napi::CallbackInfo& info) {
  const std::string p = info[0].As<Napi::String>().Utf8Value();
  if (p != "fp32" && p != "bf16") throw Napi::RangeError::New(info.Env(), "matmul precision must be 'fp32' or 'bf16', not '" + p + "'");
  try {
    setMatmulPrecision(p == "bf16" ? MatmulPrecision::Bf16 : MatmulPrecision::Fp32);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

// setMatmulLibrary("blas" | "onednn"): throws, saying why, where oneDNN products cannot run.
Napi::Value SetMatmulLibrary(const Napi::CallbackInfo& info) {
  const std::string l = info[0].As<Napi::String>().Utf8Value();
  if (l != "blas" && l != "onednn") throw Napi::RangeError::New(info.Env(), "matmul library must be 'blas' or 'onednn', not '" + l + "'");
  try {
    setMatmulLibrary(l == "onednn" ? MatmulLibrary::Onednn : MatmulLibrary::Blas);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int64_t n = num(info, 0);
  if (n < 1 || n > 1024) throw Napi::RangeError::New(info.Env(), "threads must be in [1, 1024]");
  setNumThreads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value PeakGflops(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), measurePeakGflops(static_cast<int>(num(info, 0)), info[1].As<Napi::Number>().DoubleValue()));
}

Napi::Value KeepFreedPages(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), keepFreedPages());
}

Napi::Value ReleaseFreedPages(const Napi::CallbackInfo& info) {
  releaseFreedPages();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  setNumThreads(numThreads());
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("geluTanhGrad", Napi::Function::New(env, GeluTanhGrad));
  exports.Set("swigluGate", Napi::Function::New(env, SwigluGate));
  exports.Set("swigluGateGrad", Napi::Function::New(env, SwigluGateGrad));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("slice", Napi::Function::New(env, Slice));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("layerNormModulate", Napi::Function::New(env, LayerNormModulate));
  exports.Set("layerNormModulateGrad", Napi::Function::New(env, LayerNormModulateGrad));
  exports.Set("rotaryPairs", Napi::Function::New(env, RotaryPairs));
  exports.Set("gatedResidual", Napi::Function::New(env, GatedResidual));
  exports.Set("gatedResidualGrad", Napi::Function::New(env, GatedResidualGrad));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("sumsOfSquares", Napi::Function::New(env, SumsOfSquares));
  exports.Set("adamwEma", Napi::Function::New(env, AdamwEma));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("setMatmulPrecision", Napi::Function::New(env, SetMatmulPrecision));
  exports.Set("setMatmulLibrary", Napi::Function::New(env, SetMatmulLibrary));
  exports.Set("peakGflops", Napi::Function::New(env, PeakGflops));
  exports.Set("keepFreedPages", Napi::Function::New(env, KeepFreedPages));
  exports.Set("releaseFreedPages", Napi::Function::New(env, ReleaseFreedPages));
  registerLinalg(env, exports);
  return exports;
}

}  // namespace

}  // namespace difflab

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return difflab::Init(env, exports); }

NODE_API_MODULE(difflab_native, InitAddon)
