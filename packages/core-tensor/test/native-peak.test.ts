// The measured fp32 peak is what "% of peak" in the benchmarks divides by: it must bound every GEMM
// the same process can run. An undercounting peak loop (spilled registers, no FMA contraction)
// read a twentieth of the machine's rate on AVX2 and made every GEMM look faster than the peak.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { measurePeakGflops } from '../src/native/peak.js';
import { requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});

function gemmGflops(n: number): number {
  const a = tf.randomNormal([n, n]), b = tf.randomNormal([n, n]);
  tf.matMul(a, b).dispose();
  let best = 0;
  for (let rep = 0; rep < 5; rep++) {
    const start = performance.now();
    tf.matMul(a, b).dataSync();
    best = Math.max(best, (2 * n ** 3) / ((performance.now() - start) / 1000) / 1e9);
  }
  tf.dispose([a, b]);
  return best;
}

describe('measurePeakGflops', () => {
  it('is at least the best GEMM rate measured in the same process, and grows with threads', () => {
    // Best of three short windows each, so a busy neighbour on the machine lowers neither side unfairly.
    const peak = (threads: number) => Math.max(...[0, 1, 2].map(() => measurePeakGflops(threads, 0.1)!));
    const peak1 = peak(1);
    const peakAll = peak(2);
    const gemm = Math.max(gemmGflops(512), gemmGflops(1024));
    expect(gemm).toBeGreaterThan(1);
    expect(peakAll).toBeGreaterThanOrEqual(gemm);
    expect(peakAll).toBeGreaterThan(peak1 * 0.9);
  });
});
