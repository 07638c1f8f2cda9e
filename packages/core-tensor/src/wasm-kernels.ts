import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

// Kernels that training needs but @tensorflow/tfjs-backend-wasm 4.22 does not register:
// UnsortedSegmentSum (the gradient of gather) and the filter/input gradients of convolutions.
// They run in JavaScript over the wasm heap (the conv filter gradient's product in wasm's BatchMatMul).

type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Values = tf.backend_util.TypedArray;

/** A named kernel input; the engine always passes them, so absence is a programming error. */
export function kernelInput(inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`kernel input '${name}' is missing`);
  return t;
}

function read(backend: BackendWasm, t: tf.TensorInfo): Values {
  return backend.readSync(t.dataId) as Values;
}

function output(backend: BackendWasm, shape: number[], dtype: tf.DataType, values: Values): tf.TensorInfo {
  return backend.makeOutput(shape, dtype, undefined, values);
}

function zeros(dtype: tf.DataType, size: number): Values {
  return dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
}

const unsortedSegmentSum: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = kernelInput(inputs, 'x');
  const segmentIds = kernelInput(inputs, 'segmentIds');
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const b = backend as BackendWasm;
  const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const xs = read(b, x);
  const ids = read(b, segmentIds);
  const out = zeros(x.dtype, numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    // Out-of-range ids are dropped, as in TensorFlow's CPU kernel for negative ids.
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j]! += xs[src + j]!;
  }
  return output(b, outShape, x.dtype, out);
};

// dW = im2col(x)ᵀ · dy: the patches are gathered in JavaScript and the product runs in wasm's
// BatchMatMul, which is ~20x faster than a JavaScript triple loop.
const conv2DBackpropFilter: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = kernelInput(inputs, 'x');
  const dy = kernelInput(inputs, 'dy');
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const b = backend as BackendWasm;
  if (dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm supports NHWC only, got dataFormat '${dataFormat}'`);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  const xs = read(b, x);
  const inC = info.inChannels;
  const k = info.filterHeight * info.filterWidth * inC;
  const m = info.batchSize * info.outHeight * info.outWidth;
  const cols = new Float32Array(m * k);
  let row = 0;
  for (let n = 0; n < info.batchSize; n++) {
    for (let yR = 0; yR < info.outHeight; yR++) {
      for (let yC = 0; yC < info.outWidth; yC++, row++) {
        for (let wR = 0; wR < info.filterHeight; wR++) {
          const xR = yR * info.strideHeight - info.padInfo.top + wR;
          if (xR < 0 || xR >= info.inHeight) continue;
          for (let wC = 0; wC < info.filterWidth; wC++) {
            const xC = yC * info.strideWidth - info.padInfo.left + wC;
            if (xC < 0 || xC >= info.inWidth) continue;
            const src = ((n * info.inHeight + xR) * info.inWidth + xC) * inC;
            cols.set(xs.subarray(src, src + inC), row * k + (wR * info.filterWidth + wC) * inC);
          }
        }
      }
    }
  }
  const patches = output(b, [m, k], 'float32', cols);
  const grads: tf.TensorInfo = { dataId: dy.dataId, shape: [m, info.outChannels], dtype: dy.dtype };
  const matMul = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc;
  const dw = matMul({ inputs: { a: patches, b: grads }, attrs: { transposeA: true, transposeB: false }, backend: b }) as tf.TensorInfo;
  b.disposeData(patches.dataId);
  return { dataId: dw.dataId, shape: filterShape, dtype: 'float32' };
};

function depthwiseInfo(
  xShape: number[],
  filterShape: [number, number, number, number],
  attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs | tf.DepthwiseConv2dNativeBackpropInputAttrs,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
}

/** Calls visit(xIndex, dyIndex, wIndex) for every (input, output, weight) triple a depthwise conv multiplies. */
function forEachDepthwiseTap(info: Conv2DInfo, visit: (xi: number, dyi: number, wi: number) => void): void {
  const inC = info.inChannels;
  const outC = info.outChannels;
  const mul = outC / inC;
  for (let n = 0; n < info.batchSize; n++) {
    for (let yR = 0; yR < info.outHeight; yR++) {
      for (let wR = 0; wR < info.filterHeight; wR++) {
        const xR = yR * info.strideHeight - info.padInfo.top + wR * info.dilationHeight;
        if (xR < 0 || xR >= info.inHeight) continue;
        for (let yC = 0; yC < info.outWidth; yC++) {
          for (let wC = 0; wC < info.filterWidth; wC++) {
            const xC = yC * info.strideWidth - info.padInfo.left + wC * info.dilationWidth;
            if (xC < 0 || xC >= info.inWidth) continue;
            const xBase = ((n * info.inHeight + xR) * info.inWidth + xC) * inC;
            const dyBase = ((n * info.outHeight + yR) * info.outWidth + yC) * outC;
            const wBase = (wR * info.filterWidth + wC) * outC;
            for (let d1 = 0; d1 < inC; d1++) {
              for (let q = 0; q < mul; q++) visit(xBase + d1, dyBase + d1 * mul + q, wBase + d1 * mul + q);
            }
          }
        }
      }
    }
  }
}

const depthwiseBackpropFilter: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = kernelInput(inputs, 'x');
  const dy = kernelInput(inputs, 'dy');
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const b = backend as BackendWasm;
  const info = depthwiseInfo(x.shape, a.filterShape, a);
  const xs = read(b, x);
  const dys = read(b, dy);
  const dw = new Float32Array(tf.util.sizeFromShape(a.filterShape));
  forEachDepthwiseTap(info, (xi, dyi, wi) => {
    dw[wi]! += xs[xi]! * dys[dyi]!;
  });
  return output(b, a.filterShape, x.dtype, dw);
};

const depthwiseBackpropInput: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const dy = kernelInput(inputs, 'dy');
  const filter = kernelInput(inputs, 'filter');
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const b = backend as BackendWasm;
  const info = depthwiseInfo(a.inputShape, filter.shape as [number, number, number, number], a);
  const dys = read(b, dy);
  const ws = read(b, filter);
  const dx = new Float32Array(tf.util.sizeFromShape(a.inputShape));
  forEachDepthwiseTap(info, (xi, dyi, wi) => {
    dx[xi]! += dys[dyi]! * ws[wi]!;
  });
  return output(b, a.inputShape, dy.dtype, dx);
};

const KERNELS: [string, tf.KernelFunc][] = [
  [tf.UnsortedSegmentSum, unsortedSegmentSum],
  [tf.Conv2DBackpropFilter, conv2DBackpropFilter],
  [tf.DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter],
  [tf.DepthwiseConv2dNativeBackpropInput, depthwiseBackpropInput],
];

/** Names of the kernels this module adds to the wasm backend. */
export const WASM_TRAINING_KERNELS: readonly string[] = KERNELS.map(([name]) => name);

/** Registers the missing training kernels for 'wasm'; safe to call repeatedly. */
export function registerWasmTrainingKernels(): void {
  for (const [kernelName, kernelFunc] of KERNELS) {
    if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}
