import * as tf from '@tensorflow/tfjs-core';
import { loadAddon } from './addon.js';

/** fp32, or bf16 matrix products: both operands rounded to bfloat16 (nearest-even), fp32 accumulation and result. */
export type MatmulPrecision = 'fp32' | 'bf16';

/** Why bf16 matrix products cannot run in this process, or null when they can (native backend active, oneDNN, AVX512-BF16). */
export function bf16Unavailable(): string | null {
  if (tf.getBackend() !== 'native') return `they need the native backend and the active backend is '${tf.getBackend()}'`;
  const load = loadAddon();
  if (!load.ok) return load.reason;
  const why = load.addon.info().bf16Unavailable;
  if (why === undefined || !load.addon.setMatmulPrecision) return 'the native addon predates bf16 products: rebuild it (node packages/core-tensor/native/build.mjs)';
  return why === '' ? null : why;
}

/**
 * Sets the precision of the native backend's matrix products (dense layers, convolutions, batched
 * matmuls; the fused attention kernel stays fp32). Weights, gradients and optimizer state stay fp32:
 * only the products' inputs are rounded. Throws, saying why, where bf16 cannot run.
 */
export function setMatmulPrecision(precision: MatmulPrecision): void {
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`matmul precision must be 'fp32' or 'bf16', not '${String(precision)}'`);
  if (precision === 'bf16') {
    const why = bf16Unavailable();
    if (why) throw new Error(`bf16 matrix products are unavailable: ${why}`);
  }
  const load = loadAddon();
  if (load.ok) load.addon.setMatmulPrecision?.(precision);
}

/** The native backend's current matrix-product precision (fp32 where the addon is absent). */
export function matmulPrecision(): MatmulPrecision {
  const load = loadAddon();
  return (load.ok && load.addon.info().matmulPrecision) || 'fp32';
}
