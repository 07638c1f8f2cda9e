import * as tf from '@tensorflow/tfjs-core';
import { LinalgError } from '@difflab/core-tensor';
import type { DiT, DiTAdaptation } from '../dit/dit.js';
import { type LayerPattern, type PeftAdapter, WeightMerger, countParams, selectLayers, trainableVariable } from './adapter.js';
import { type ThinSvd, thinSvd } from './svd.js';

// SVDiff (Han et al. 2023, "SVDiff: Compact Parameter Space for Diffusion Fine-Tuning"): each target
// weight is decomposed once, W = U·diag(σ)·Vᵀ, and only a shift δ of its singular values is trained:
//   W_eff = U·diag(ReLU(σ + δ))·Vᵀ,   δ = 0 at initialisation.
// Our weights are [in, out] (x·W), so U [in, k] spans the input side and V [out, k] the output side,
// k = min(in, out). The SVD is computed in float64 (./svd.ts) and stored in float32.
//
// Evaluated as W_eff = W + U·diag(ReLU(σ + δ) − σ)·Vᵀ, which is the paper's formula exactly whenever
// W = U·diag(σ)·Vᵀ, and keeps the float32 rounding residual of the stored SVD (W − fl(U)·fl(σ)·fl(V)ᵀ,
// about k·2⁻²⁴·σ_max) in place: at δ = 0 the effective weight is W bit for bit (ReLU(σ) − σ = 0 exactly
// for σ ≥ 0), and a saved δ re-applied to the same base reproduces W_eff whatever the SVD's signs.

export interface SvdiffOptions {
  /** Linear layers to adapt (see LayerPattern); default every linear layer inside the blocks ([/^blocks\.\d+\./]). */
  targets?: readonly LayerPattern[];
}

export const SVDIFF_DEFAULT_TARGETS: readonly LayerPattern[] = [/^blocks\.\d+\./];

/** The frozen float32 SVD of one adapted weight W [in, out] = u·diag(s)·vᵀ. */
export interface SvdiffSpectrum {
  /** [in, k], orthonormal columns. */
  u: tf.Tensor2D;
  /** [k], descending, ≥ 0. */
  s: tf.Tensor1D;
  /** [out, k], orthonormal columns. */
  v: tf.Tensor2D;
}

export interface SvdiffAdapter extends PeftAdapter {
  readonly method: 'svdiff';
  /** The adapted linear layers, e.g. 'blocks.0.mlp.fc1'. */
  readonly layers: readonly string[];
  /** The SVD of each adapted layer's base weight (owned by the adapter; freed by dispose). */
  readonly spectra: Readonly<Record<string, SvdiffSpectrum>>;
  readonly merged: boolean;
  /** W_eff of every adapted layer, new tensors keyed by weight name; the caller disposes. */
  mergedWeights(): Record<string, tf.Tensor2D>;
  /** Writes W_eff into the DiT's weights, keeping the originals; train no further while merged. */
  merge(): void;
  /** Restores every original W bit for bit. */
  unmerge(): void;
}

/**
 * SVDiff on the linear layers of `dit` matched by `opts.targets`: one parameter `<layer>.svdiff_delta`
 * [min(in, out)] per layer, zero (no random draw, so no Rng). The SVD is taken of the weights `dit`
 * holds now (read once with dataSync; creation is not part of any forward). Trainable count
 * Σ_layers min(in, out).
 */
export function createSvdiff(dit: DiT, opts: SvdiffOptions = {}): SvdiffAdapter {
  const layers = selectLayers(dit, opts.targets ?? SVDIFF_DEFAULT_TARGETS, 'SVDiff option targets');
  const params: Record<string, tf.Variable> = {};
  const spectra: Record<string, SvdiffSpectrum> = {};
  try {
    for (const layer of layers) {
      const weight = dit.params[`${layer}.weight`]!;
      const [fanIn, fanOut] = weight.shape as [number, number];
      let svd: ThinSvd;
      try {
        svd = thinSvd(weight.dataSync(), fanIn, fanOut);
      } catch (e) {
        throw e instanceof LinalgError ? new LinalgError(`SVDiff, ${layer}.weight: ${e.message}`) : e;
      }
      spectra[layer] = {
        u: tf.tensor2d(Float32Array.from(svd.u), [fanIn, svd.k]),
        s: tf.tensor1d(Float32Array.from(svd.s)),
        v: tf.tensor2d(Float32Array.from(svd.v), [fanOut, svd.k]),
      };
      params[`${layer}.svdiff_delta`] = trainableVariable(new Float32Array(svd.k), [svd.k]);
    }
  } catch (e) {
    // e.g. a non-finite weight: leave nothing half-built behind.
    tf.dispose([...Object.values(params), ...Object.values(spectra).flatMap(({ u, s, v }) => [u, s, v])]);
    throw e;
  }

  /** W + U·diag(ReLU(σ + δ) − σ)·Vᵀ. */
  const effective = (layer: string, w: tf.Tensor2D): tf.Tensor2D => {
    const { u, s, v } = spectra[layer]!;
    const shift = tf.sub(tf.relu(tf.add(s, params[`${layer}.svdiff_delta`]!)), s); // (k)
    return tf.add(w, tf.matMul(tf.mul(u, shift) as tf.Tensor2D, v, false, true));
  };

  const merger = new WeightMerger(dit, layers, effective, 'SVDiff');
  const adapted = new Set(layers);
  const adaptation: DiTAdaptation = {
    weight: (layer, w) => (adapted.has(layer) && !merger.merged ? effective(layer, w) : w),
  };

  return {
    method: 'svdiff',
    params,
    adaptation,
    trainableCount: countParams(params),
    layers,
    spectra,
    get merged() {
      return merger.merged;
    },
    mergedWeights: () => merger.mergedWeights(),
    merge: () => merger.merge(),
    unmerge: () => merger.unmerge(),
    dispose() {
      merger.dispose();
      for (const v of Object.values(params)) v.dispose();
      for (const { u, s, v } of Object.values(spectra)) tf.dispose([u, s, v]);
    },
  };
}
