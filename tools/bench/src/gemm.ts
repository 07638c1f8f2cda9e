import { initBackend, measurePeakGflops, onednnUnavailable, setMatmulLibrary, tf } from '@difflab/core-tensor';
import { runPeer } from './python-peer.js';

export interface GemmResult {
  n: number;
  /** fp32 GFLOP/s of tf.matMul on the native backend (JS dispatch and output allocation included), products by BLAS. */
  native: number;
  /** The same with oneDNN's products (train.matmul 'onednn'); null where the addon has no oneDNN. */
  nativeOnednn: number | null;
  pytorch: number | null;
}

export interface GemmReport {
  /** Measured fp32 FMA throughput (GFLOP/s) with 1 and with all threads: the practical peak. */
  peak1: number | null;
  peakAll: number | null;
  threads: number;
  results: GemmResult[];
  pytorchEngine: string | null;
  /** Why the oneDNN column is empty, or null. */
  onednnUnavailable: string | null;
}

/** GFLOP/s of an n×n fp32 tf.matMul on the active backend, with its current matrix-product library. */
export function timeMatMul(n: number, minSeconds: number): number {
  const a = tf.randomNormal([n, n]), b = tf.randomNormal([n, n]);
  tf.matMul(a, b).dispose();
  let reps = 0;
  const start = performance.now();
  while (reps < 2 || performance.now() - start < minSeconds * 1000) {
    tf.matMul(a, b).dispose();
    reps++;
  }
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([a, b]);
  return (2 * n ** 3 * reps) / seconds / 1e9;
}

/** Square fp32 GEMM on the native backend and in PyTorch, against the machine's measured peak. */
export async function gemmBench(sizes: number[], threads: number, withPytorch: boolean, minSeconds = 0.5): Promise<GemmReport> {
  await initBackend({ backend: 'native', log: () => {} });
  const peak1 = measurePeakGflops(1, minSeconds);
  const peakAll = measurePeakGflops(threads, minSeconds);
  const native = sizes.map((n) => timeMatMul(n, minSeconds));
  const noOnednn = onednnUnavailable();
  let onednn: number[] | null = null;
  if (noOnednn === null) {
    setMatmulLibrary('onednn');
    try {
      onednn = sizes.map((n) => timeMatMul(n, minSeconds));
    } finally {
      setMatmulLibrary('blas');
    }
  }
  let torch: { engine: string; results: { n: number; gflops: number }[] } | null = null;
  if (withPytorch) torch = runPeer('gemm_torch.py', { sizes, threads, minSeconds });
  return {
    peak1,
    peakAll,
    threads,
    pytorchEngine: torch?.engine ?? null,
    onednnUnavailable: noOnednn,
    results: sizes.map((n, i) => ({ n, native: native[i]!, nativeOnednn: onednn?.[i] ?? null, pytorch: torch?.results[i]?.gflops ?? null })),
  };
}
