import * as tf from '@tensorflow/tfjs-core';
import { kernelInput } from './wasm-kernels.js';

// tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad indexes dy with the image's batch stride and
// ignores halfPixelCenters, so its gradient is wrong for batch > 1 (NaN when downsampling); wasm's
// ignores halfPixelCenters. This kernel scatters dy back through exactly the forward's pixel map.

// BackendWasm and MathBackendCPU both have a makeOutput, with different signatures; typedArrayFromHeap tells wasm apart.
type JsBackend = tf.KernelBackend & {
  typedArrayFromHeap?: unknown;
  makeOutput?: (shape: number[], dtype: tf.DataType, offset: undefined, values: tf.backend_util.TypedArray) => tf.TensorInfo;
  makeTensorInfo?: (shape: number[], dtype: tf.DataType, values: tf.backend_util.TypedArray) => tf.TensorInfo;
};

/** The source index the forward resize reads for output index i (as tfjs-backend-cpu's forward). */
function sourceIndex(i: number, inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): number {
  const ratio = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const frac = halfPixelCenters ? ratio * (i + 0.5) : ratio * i;
  const nearest = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixelCenters ? Math.max(0, nearest) : nearest;
}

const resizeNearestNeighborGrad: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const images = kernelInput(inputs, 'images');
  const dy = kernelInput(inputs, 'dy');
  const { alignCorners, halfPixelCenters = false } = attrs as unknown as tf.ResizeNearestNeighborGradAttrs & { halfPixelCenters?: boolean };
  const b = backend as JsBackend;
  const [batch, inH, inW, depth] = images.shape as [number, number, number, number];
  const [, outH, outW] = dy.shape as [number, number, number, number];
  const dys = b.readSync(dy.dataId) as Float32Array;
  const dx = new Float32Array(batch * inH * inW * depth);
  const rows = Array.from({ length: outH }, (_, r) => sourceIndex(r, inH, outH, alignCorners, halfPixelCenters));
  const cols = Array.from({ length: outW }, (_, c) => sourceIndex(c, inW, outW, alignCorners, halfPixelCenters));
  let at = 0;
  for (let n = 0; n < batch; n++) {
    for (let r = 0; r < outH; r++) {
      for (let c = 0; c < outW; c++) {
        const base = ((n * inH + rows[r]!) * inW + cols[c]!) * depth;
        for (let d = 0; d < depth; d++) dx[base + d]! += dys[at++]!;
      }
    }
  }
  if (b.typedArrayFromHeap) return b.makeOutput!(images.shape, 'float32', undefined, dx);
  return b.makeTensorInfo!(images.shape, 'float32', dx);
};

/**
 * Replaces ResizeNearestNeighborGrad on a registered backend that keeps tensor data in JS-readable
 * memory (cpu and backends built on it, wasm). Returns false otherwise.
 */
export function registerResizeNearestGradFix(backendName: string): boolean {
  const instance = tf.findBackend(backendName) as JsBackend | null;
  if (!instance || !(instance.typedArrayFromHeap ? instance.makeOutput : instance.makeTensorInfo)) return false;
  const current = tf.getKernel(tf.ResizeNearestNeighborGrad, backendName);
  if (current?.kernelFunc === resizeNearestNeighborGrad) return true;
  if (current) tf.unregisterKernel(tf.ResizeNearestNeighborGrad, backendName);
  tf.registerKernel({ kernelName: tf.ResizeNearestNeighborGrad, backendName, kernelFunc: resizeNearestNeighborGrad });
  return true;
}
