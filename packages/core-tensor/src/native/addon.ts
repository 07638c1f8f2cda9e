import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The Node-API addon built from packages/core-tensor/native (see native/src/addon.cc). */
export interface NativeAddon {
  matmul(
    a: Float32Array, b: Float32Array, out: Float32Array, aOffsets: Int32Array, bOffsets: Int32Array,
    m: number, n: number, k: number, transA: boolean, transB: boolean,
    bias: Float32Array | null, activation: number, alpha: number,
  ): void;
  binary(op: number, a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[], out: Float32Array, outShape: readonly number[]): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  geluTanhGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  reduce(op: number, x: Float32Array, shape: readonly number[], axes: readonly number[], out: Float32Array): void;
  transpose(x: Float32Array, shape: readonly number[], perm: readonly number[], out: Float32Array): void;
  slice(x: Float32Array, shape: readonly number[], begin: readonly number[], size: readonly number[], out: Float32Array): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  attention(qkv: Float32Array, batch: number, tokens: number, heads: number, headDim: number, out: Float32Array, probs: Float32Array): void;
  attentionGrad(
    dy: Float32Array, qkv: Float32Array, probs: Float32Array, batch: number, tokens: number, heads: number, headDim: number, dqkv: Float32Array,
  ): void;
  gatedResidual(h: Float32Array, gate: Float32Array, x: Float32Array, groups: number, rowsPerGroup: number, cols: number, out: Float32Array): void;
  gatedResidualGrad(
    dy: Float32Array, gate: Float32Array, x: Float32Array, groups: number, rowsPerGroup: number, cols: number, dx: Float32Array, dgate: Float32Array,
  ): void;
  layerNormModulate(
    x: Float32Array, shift: Float32Array, scale: Float32Array, groups: number, rowsPerGroup: number, cols: number, eps: number,
    y: Float32Array, mean: Float32Array, rstd: Float32Array, center: boolean,
  ): void;
  layerNormModulateGrad(
    dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, scale: Float32Array,
    groups: number, rowsPerGroup: number, cols: number, dx: Float32Array, dscale: Float32Array, dshift: Float32Array, center: boolean,
  ): void;
  /**
   * Rotary position embedding of interleaved channel pairs (native/src/rope.cc): for x, y [batch, tokens, 2·pairs]
   * and cos, sin [tokens, pairs], y[2p] = x[2p]·cos − x[2p+1]·sin, y[2p+1] = x[2p+1]·cos + x[2p]·sin; `inverse`
   * negates sin (the inverse rotation, which is also the gradient). Absent from addons built before it existed.
   */
  rotaryPairs?(x: Float32Array, cos: Float32Array, sin: Float32Array, batch: number, tokens: number, pairs: number, inverse: boolean, y: Float32Array): void;
  /**
   * SwiGLU's gate y = (a·σ(a))·g elementwise (native/src/elementwise.cc), bit-identical to the Sigmoid and
   * Multiply kernels; the gradient gives da and dg from dy as tfjs's gradients of those ops do. Absent from
   * addons built before it existed.
   */
  swigluGate?(a: Float32Array, g: Float32Array, y: Float32Array): void;
  swigluGateGrad?(dy: Float32Array, a: Float32Array, g: Float32Array, da: Float32Array, dg: Float32Array): void;
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: readonly number[], bias: Float32Array | null, activation: number, alpha: number): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: readonly number[]): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: readonly number[]): void;
  /**
   * out[j] = Σ xs[j][i]² over the first sizes[j] elements, summed exactly as the Sum kernel sums the
   * Square kernel's output (so a global norm built from it equals the tfjs ops' bit for bit).
   */
  sumsOfSquares?(xs: Float32Array[], sizes: Float64Array, out: Float32Array): void;
  /**
   * Clip-scaled AdamW and the EMA over many parameters in one pass (native/src/optimizer.cc).
   * `arrays` holds 9 entries per parameter — g, pIn, pOut, mIn, mOut, vIn, vOut, eIn, eOut — null where
   * absent (no g: EMA only; no mIn/vIn: first step; no eIn/eOut: no EMA); outputs may be their inputs.
   * `scalars`: beta1, 1−beta1, beta2, 1−beta2, √(1−beta2ᵗ), eps, stepSize, shrink, gradScale, emaDecay, 1−emaDecay.
   * Absent from addons built before it existed.
   */
  adamwEma?(arrays: (Float32Array | null)[], sizes: Float64Array, decay: Uint8Array, scalars: Float64Array, scaleGrads: boolean): void;
  /** bf16Unavailable / onednnUnavailable: why those products cannot run here, "" when they can (absent from older addons). */
  info(): {
    blas: string;
    threads: number;
    bf16Unavailable?: string;
    matmulPrecision?: 'fp32' | 'bf16';
    onednnUnavailable?: string;
    matmulLibrary?: 'blas' | 'onednn';
  };
  /** The precision of matrix products (not fused attention): bf16 rounds both operands, accumulates in fp32. */
  setMatmulPrecision?(precision: 'fp32' | 'bf16'): void;
  /** Which library computes fp32 matrix products: the platform BLAS or oneDNN. */
  setMatmulLibrary?(library: 'blas' | 'onednn'): void;
  setThreads(n: number): void;
  /** Measured fp32 FMA throughput of `threads` threads over `seconds`, in GFLOP/s. */
  peakGflops(threads: number, seconds: number): number;
  /** Keeps freed memory mapped for reuse instead of returning it to the kernel (glibc); false where unsupported. */
  keepFreedPages(): boolean;
  /** Returns the free parts of the heap to the kernel (glibc malloc_trim). */
  releaseFreedPages(): void;
  /**
   * Float64 symmetric eigendecomposition by LAPACK `dsyevd` (native/src/lapack.cc). `a` is row-major
   * n×n symmetric and is overwritten with the unit eigenvectors as rows (row i ↔ w[i]) when
   * `wantVectors`; `w` receives the eigenvalues in ascending order. Throws on non-finite input and
   * when LAPACK reports an error. Absent from builds without OpenBLAS's LAPACK (macOS) and from
   * addons built before it existed; core-tensor's `eigh` then runs in JS.
   */
  eighF64?(a: Float64Array, n: number, w: Float64Array, wantVectors: boolean): void;
  /**
   * C = A·Bᵀ + beta·C in float64 (BLAS `dgemm`; `dsyrk` when `symmetric` and a === b) for row-major
   * A (m×k), B (n×k), C (m×n). With `symmetric` the lower triangle of C is mirrored from the upper.
   */
  matmulTransBF64?(a: Float64Array, b: Float64Array, c: Float64Array, m: number, n: number, k: number, beta: number, symmetric: boolean): void;
}

// Op codes shared with native/src/kernels.h.
export const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, Pow: 6, SquaredDifference: 7 } as const;
export const UNARY_OPS = { Neg: 0, Exp: 1, Log: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Tanh: 6, Sigmoid: 7, Relu: 8, Abs: 9, Reciprocal: 10, Erf: 11 } as const;
/** Unary op codes of native kernels that have no tfjs cpu counterpart (registered separately). */
export const GELU_TANH_OP = 12;
export const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;
export const ACTIVATIONS = { linear: 0, relu: 1, relu6: 2, elu: 3, leakyrelu: 4, sigmoid: 5 } as const;

export const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/difflab_native.node', import.meta.url));

export type AddonLoad = { ok: true; addon: NativeAddon } | { ok: false; reason: string };

let loaded: AddonLoad | null = null;

/** Loads the addon once; says why when it cannot (not built, or built for another Node). */
export function loadAddon(): AddonLoad {
  if (loaded) return loaded;
  if (!existsSync(ADDON_PATH)) {
    loaded = { ok: false, reason: `the addon is not built (${ADDON_PATH} missing)` };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    const threads = Number(process.env['DIFFLAB_NATIVE_THREADS'] ?? '');
    if (Number.isInteger(threads) && threads > 0) addon.setThreads(threads);
    loaded = { ok: true, addon };
  } catch (e) {
    loaded = { ok: false, reason: `the addon failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
  return loaded;
}
