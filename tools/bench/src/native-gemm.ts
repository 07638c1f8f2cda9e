import { bf16Unavailable, initBackend, setMatmulPrecision, setNativeThreads, tf } from '@difflab/core-tensor';
import type { GemmShape } from './gemm-bench.js';

/**
 * The native backend's own products on `shapes` (tf.matMul, as the DiT's dense layers call them): fp32 (OpenBLAS
 * sgemm split over the backend's threads) and, where available, bf16 (oneDNN, `setMatmulPrecision('bf16')`).
 * GFLOP/s, best of `blocks` alternating blocks of `seconds / blocks` each.
 */
export async function nativeGemmRates(shapes: GemmShape[], threads: number, seconds: number, blocks = 3): Promise<{ nativeFp32: number; nativeBf16: number | null }[]> {
  await initBackend({ backend: 'native', log: () => {} });
  const before = setNativeThreads(threads);
  const bf16 = bf16Unavailable() === null;
  try {
    return shapes.map((s) => {
      const a = tf.randomNormal(s.transA ? [s.k, s.m] : [s.m, s.k]), b = tf.randomNormal([s.k, s.n]);
      const rate = (precision: 'fp32' | 'bf16') => {
        setMatmulPrecision(precision);
        tf.matMul(a, b, s.transA).dispose();
        let n = 0;
        const start = performance.now();
        while (performance.now() - start < (seconds * 1000) / blocks) {
          tf.matMul(a, b, s.transA).dispose();
          n++;
        }
        return (2 * s.m * s.n * s.k * n) / ((performance.now() - start) / 1000) / 1e9;
      };
      let fp32 = 0, bf = 0;
      for (let i = 0; i < blocks; i++) {
        fp32 = Math.max(fp32, rate('fp32'));
        if (bf16) bf = Math.max(bf, rate('bf16'));
      }
      tf.dispose([a, b]);
      return { nativeFp32: fp32, nativeBf16: bf16 ? bf : null };
    });
  } finally {
    setMatmulPrecision('fp32');
    setNativeThreads(before);
  }
}
