// bf16 matrix products (native/src/onednn.cc): each product must equal the float64 product of the
// bfloat16-rounded operands up to fp32 accumulation, and differ from the unrounded product by the
// rounding. Where the machine cannot run them, setMatmulPrecision('bf16') must refuse and say why.
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bf16Unavailable, bfloat16BitsToFloat32, cpuFlags, float32ToBfloat16Bits, matmulPrecision, Rng, setMatmulPrecision } from '../src/index.js';
import { MATMUL_CASES, matmulOperands, onednnInstalled, reference, worstRelative } from './matmul-reference.js';
import { requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});
afterEach(async () => {
  await tf.setBackend('native');
  if (bf16Unavailable() === null) setMatmulPrecision('fp32');
});

const bf16 = (v: number) => bfloat16BitsToFloat32(float32ToBfloat16Bits(v));

// A machine with the instructions and Debian's oneDNN headers must have built an addon that runs bf16.
const machineHasBf16 = cpuFlags().includes('avx512_bf16') && onednnInstalled;

describe('bf16 matrix products', () => {
  it(`are available exactly when the CPU has AVX512-BF16 and oneDNN is installed (here: ${machineHasBf16 ? 'both' : 'not both'})`, () => {
    expect(bf16Unavailable()).toEqual(machineHasBf16 ? null : expect.any(String));
  });

  it('equal the float64 product of bf16-rounded operands where the CPU has AVX512-BF16, and are refused with the reason elsewhere', () => {
    const why = bf16Unavailable();
    if (why !== null) {
      expect(why.length).toBeGreaterThan(10);
      expect(() => setMatmulPrecision('bf16')).toThrow(`bf16 matrix products are unavailable: ${why}`);
      expect(matmulPrecision()).toBe('fp32');
      return;
    }
    const rng = new Rng(3);
    for (const { batch, m, n, k } of MATMUL_CASES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const { a, b, shapeA, shapeB } = matmulOperands(rng, { batch, m, n, k }, transA, transB);
          setMatmulPrecision('bf16');
          expect(matmulPrecision()).toBe('bf16');
          const c = tf.tidy(() => tf.matMul(tf.tensor(a, shapeA), tf.tensor(b, shapeB), transA, transB).dataSync() as Float32Array);
          setMatmulPrecision('fp32');
          const c32 = tf.tidy(() => tf.matMul(tf.tensor(a, shapeA), tf.tensor(b, shapeB), transA, transB).dataSync() as Float32Array);
          const label = `batch ${batch} ${m}×${n}×${k} transA ${transA} transB ${transB}`;
          // fp32 accumulation of k terms: ≤ k·2⁻²⁴ of Σ|terms| in the worst case, far less in practice.
          const rounded = worstRelative(c, reference(a, b, batch, m, n, k, transA, transB, bf16));
          expect(rounded, label).toBeLessThan(k * 6e-8);
          // Against the unrounded operands the error is bf16's (≈ 2⁻⁹ per operand), far above fp32's.
          expect(worstRelative(c, reference(a, b, batch, m, n, k, transA, transB, (v) => v)), label).toBeGreaterThan(1e-4);
          expect(worstRelative(c32, reference(a, b, batch, m, n, k, transA, transB, (v) => v)), label).toBeLessThan(k * 6e-8);
        }
      }
    }
  });

  it('apply the fused bias and activation after the bf16 product', () => {
    if (bf16Unavailable() !== null) {
      expect(() => setMatmulPrecision('bf16')).toThrow('bf16 matrix products are unavailable');
      return;
    }
    const rng = new Rng(4);
    const [m, n, k] = [40, 30, 24];
    const a = Float32Array.from(rng.normalArray(m * k)), b = Float32Array.from(rng.normalArray(k * n)), bias = Float32Array.from(rng.normalArray(n));
    setMatmulPrecision('bf16');
    const c = tf.tidy(() => tf.fused.matMul({ a: tf.tensor(a, [m, k]), b: tf.tensor(b, [k, n]), bias: tf.tensor(bias), activation: 'relu' }).dataSync() as Float32Array);
    const ref = reference(a, b, 1, m, n, k, false, false, bf16);
    for (let i = 0; i < m * n; i++) {
      const want = Math.max(0, ref.out[i]! + bias[i % n]!);
      expect(Math.abs(c[i]! - want)).toBeLessThanOrEqual(k * 6e-8 * ref.scale[i]! + 1e-6);
    }
  });

  it('refuses an unknown precision and bf16 off the native backend, naming the fix', async () => {
    expect(() => setMatmulPrecision('fp16' as never)).toThrow("matmul precision must be 'fp32' or 'bf16', not 'fp16'");
    await tf.setBackend('cpu');
    expect(bf16Unavailable()).toBe("they need the native backend and the active backend is 'cpu'");
    expect(() => setMatmulPrecision('bf16')).toThrow("bf16 matrix products are unavailable: they need the native backend and the active backend is 'cpu'");
  });
});
