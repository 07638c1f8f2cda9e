import * as tf from '@tensorflow/tfjs-core';
import { openblasCoretypeNotice } from './blas-coretype.js';
import { loadAddon } from './addon.js';
import { nativeKernelConfigs } from './kernels.js';
import { NativeBackend } from './native-backend.js';

export const NATIVE_BACKEND_NAME = 'native';

export type NativeRegistration = { ok: true; name: 'native'; detail: string } | { ok: false; reason: string };

let registered: NativeRegistration | null = null;

/**
 * Registers the 'native' tfjs backend (does not select it; call tf.setBackend('native') or
 * core-tensor's initBackend). Idempotent; reports why when the addon is unavailable.
 */
export function registerNativeBackend(): NativeRegistration {
  if (registered) return registered;
  const load = loadAddon();
  if (!load.ok) {
    registered = { ok: false, reason: load.reason };
    return registered;
  }
  const native = nativeKernelConfigs(load.addon, NATIVE_BACKEND_NAME);
  const nativeNames = new Set(native.map((k) => k.kernelName));
  // Storage and the ~150 kernels the profile does not reach stay the tfjs cpu backend's; the hot
  // kernels run in C++.
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (nativeNames.has(k.kernelName)) continue;
    const cpuFunc = k.kernelFunc;
    const kernelFunc: tf.KernelFunc = (args) => {
      const out = cpuFunc(args);
      (args.backend as NativeBackend).noteViews(out, args.inputs as Record<string, tf.TensorInfo>);
      return out;
    };
    tf.registerKernel({ ...k, backendName: NATIVE_BACKEND_NAME, kernelFunc });
  }
  for (const k of native) tf.registerKernel(k);
  tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(load.addon), 3);
  const { blas, threads, bf16Unavailable, onednnUnavailable } = load.addon.info();
  const pinned = openblasCoretypeNotice();
  const onednn = onednnUnavailable === '' ? `, oneDNN ${bf16Unavailable === '' ? 'fp32 and bf16' : 'fp32'} products available` : '';
  registered = { ok: true, name: NATIVE_BACKEND_NAME, detail: `${blas}, ${threads} threads${onednn}${pinned ? `; ${pinned}` : ''}` };
  return registered;
}

/**
 * Bytes of tensor data on the native backend (each buffer once, however many views share it, plus
 * the buffer pool): now, and the peak since the last resetNativePeakMemory(). null when the current
 * backend is not native.
 */
export function nativeMemoryFootprint(): { bytes: number; peakBytes: number } | null {
  const backend = tf.backend();
  return backend instanceof NativeBackend ? backend.memoryFootprint() : null;
}

/** Starts a new peak for nativeMemoryFootprint() (no-op on other backends). */
export function resetNativePeakMemory(): void {
  const backend = tf.backend();
  if (backend instanceof NativeBackend) backend.resetPeakMemory();
}

/**
 * Gives the memory the native backend keeps for reuse back to the system, like PyTorch's
 * torch.cuda.empty_cache(): its buffer pool, and the heap pages of freed buffers (kept mapped
 * while training, see native/src/heap.cc), after a full garbage collection. Call it after a large
 * workload when something else (another process) needs the memory; a no-op when the backend is
 * not native.
 */
export function releaseNativeMemory(): void {
  const backend = tf.backend();
  if (backend instanceof NativeBackend) backend.releaseMemory();
}

/**
 * Sets the native backend's thread count (what DIFFLAB_NATIVE_THREADS sets at load) and returns the previous
 * one; benchmarks use it to time 1 and all threads in one process. Throws when the addon is not loaded.
 */
export function setNativeThreads(threads: number): number {
  const load = loadAddon();
  if (!load.ok) throw new Error(`setNativeThreads: ${load.reason}`);
  const before = load.addon.info().threads;
  load.addon.setThreads(threads);
  return before;
}
