import * as tf from '@tensorflow/tfjs-core';
import { loadAddon } from './addon.js';

/** fp32, or bf16 matrix products: both operands rounded to bfloat16 (nearest-even), fp32 accumulation and result. */
export type MatmulPrecision = 'fp32' | 'bf16';

/**
 * Which library computes the native backend's fp32 matrix products: the platform BLAS (OpenBLAS; the
 * default, and the arithmetic of every committed result), or oneDNN's JIT matmul — faster on the DiT's
 * shapes, equal up to the rounding of a different summation order. bf16 products always use oneDNN.
 */
export type MatmulLibrary = 'blas' | 'onednn';

/** Why the products the addon reports on in `what` cannot run in this process (backend, addon, or the addon's own reason), or null when they can. */
function addonLacks(what: 'bf16Unavailable' | 'onednnUnavailable', setter: 'setMatmulPrecision' | 'setMatmulLibrary'): string | null {
  if (tf.getBackend() !== 'native') return `they need the native backend and the active backend is '${tf.getBackend()}'`;
  const load = loadAddon();
  if (!load.ok) return load.reason;
  const why = load.addon.info()[what];
  if (why === undefined || !load.addon[setter]) return 'the native addon predates them: rebuild it (node packages/core-tensor/native/build.mjs)';
  return why === '' ? null : why;
}

/** Why bf16 matrix products cannot run in this process, or null when they can (native backend active, oneDNN, AVX512-BF16). */
export function bf16Unavailable(): string | null {
  return addonLacks('bf16Unavailable', 'setMatmulPrecision');
}

/** Why oneDNN fp32 matrix products cannot run in this process, or null when they can (native backend active, addon built with oneDNN). */
export function onednnUnavailable(): string | null {
  return addonLacks('onednnUnavailable', 'setMatmulLibrary');
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

/**
 * Chooses the library of the native backend's fp32 matrix products (dense layers, convolutions, batched
 * matmuls; not the fused attention kernel). Throws, saying why, where oneDNN cannot run.
 */
export function setMatmulLibrary(library: MatmulLibrary): void {
  if (library !== 'blas' && library !== 'onednn') throw new Error(`matmul library must be 'blas' or 'onednn', not '${String(library)}'`);
  if (library === 'onednn') {
    const why = onednnUnavailable();
    if (why) throw new Error(`oneDNN matrix products are unavailable: ${why}`);
  }
  const load = loadAddon();
  if (load.ok) load.addon.setMatmulLibrary?.(library);
}

/** The native backend's current fp32 matrix-product library ('blas' where the addon is absent). */
export function matmulLibrary(): MatmulLibrary {
  const load = loadAddon();
  return (load.ok && load.addon.info().matmulLibrary) || 'blas';
}
