export * as tf from '@tensorflow/tfjs-core';
export { Rng, type RngState } from './rng.js';
export { initBackend, backendInfo, BACKEND_NAMES, BackendUnavailableError, type BackendInfo, type BackendName, type InitBackendOptions } from './backend.js';
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels.js';
export { registerResizeNearestGradFix } from './resize-nearest-grad.js';
export { AdamW, OptimizerStateError, type AdamWOptions, type OptimizerState } from './adamw.js';
export { clipByGlobalNorm } from './clip.js';
export { Ema, EmaStateError, type EmaState } from './ema.js';
export { clipAdamWEma, UpdateEngineError, type ClipAdamWEmaOptions, type ClipAdamWEmaResult, type UpdateEngine } from './update-step.js';
export { withLeakGuard, expectNoTensorLeaks, TensorLeakError } from './leak-guard.js';
export { forgetDisposedInScope } from './scope.js';
export { writeFileAtomic } from './write-file-atomic.js';
export { float32ToFloat16Bits, float16BitsToFloat32, float32ToBfloat16Bits, bfloat16BitsToFloat32 } from './half.js';
export {
  SAFETENSORS_DTYPES,
  SafetensorsError,
  encodeSafetensors,
  decodeSafetensors,
  writeSafetensors,
  readSafetensors,
  entryValues,
  entryToTensor,
  tensorToEntry,
  tensorsToEntries,
  entriesToTensors,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsContents,
  type SafetensorsInput,
} from './safetensors.js';
export * from './linalg/index.js';
export {
  registerNativeBackend,
  NATIVE_BACKEND_NAME,
  nativeMemoryFootprint,
  resetNativePeakMemory,
  releaseNativeMemory,
  setNativeThreads,
  type NativeRegistration,
} from './native/register.js';
export { measurePeakGflops } from './native/peak.js';
export { cpuFlags } from './cpu-flags.js';
export {
  setMatmulPrecision,
  matmulPrecision,
  bf16Unavailable,
  setMatmulLibrary,
  matmulLibrary,
  onednnUnavailable,
  type MatmulPrecision,
  type MatmulLibrary,
} from './native/precision.js';
export { minimizeLbfgs, strongWolfeLineSearch, type Objective, type LbfgsOptions, type LbfgsResult, type LineSearchResult } from './optim/lbfgs.js';
export {
  ATTENTION_KERNEL,
  ATTENTION_GRAD_KERNEL,
  GELU_TANH_KERNEL,
  GELU_TANH_GRAD_KERNEL,
  GATED_RESIDUAL_KERNEL,
  GATED_RESIDUAL_GRAD_KERNEL,
  LAYER_NORM_MODULATE_KERNEL,
  LAYER_NORM_MODULATE_GRAD_KERNEL,
  LINEAR_KERNEL,
  LINEAR_GRAD_KERNEL,
  ROTARY_KERNEL,
  SWIGLU_GATE_KERNEL,
  SWIGLU_GATE_GRAD_KERNEL,
} from './native/kernels.js';
