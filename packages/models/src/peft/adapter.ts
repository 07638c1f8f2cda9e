import * as tf from '@tensorflow/tfjs-core';
import { ModelConfigError } from '../errors.js';
import type { DiT, DiTAdaptation } from '../dit/dit.js';

// What every parameter-efficient fine-tuning (PEFT) method returns, and the helpers they share.

/** The methods implemented here; full fine-tuning trains `dit.params` and needs no adapter. */
export type PeftMethod = 'lora' | 'houlsby' | 'prefix' | 'svdiff';

/** A bad PEFT option; the message names the option and how to fix it. */
export class PeftConfigError extends ModelConfigError {
  override name = 'PeftConfigError';
}

/**
 * One fine-tuning method attached to one DiT. Its `params` are the only tensors it trains, keyed by
 * names that say what they adapt (e.g. `blocks.0.attn.qkv.lora_A`): save them (safetensors), create the
 * same method with the same options on a fresh copy of the same base, assign them back, and the outputs
 * are reproduced. Pass `adaptation` as `dit.forward(x, t, y, { adaptation })`; without it the forward
 * is the base model.
 */
export interface PeftAdapter {
  readonly method: PeftMethod;
  readonly params: Record<string, tf.Variable>;
  readonly adaptation: DiTAdaptation;
  /** Σ size of `params`, equal to the method's closed form (see the README). */
  readonly trainableCount: number;
  /** Frees the adapter's variables and buffers; the DiT is left as it is (merged weights stay merged). */
  dispose(): void;
}

/** A layer-name pattern: a string matches a layer equal to it or ending in '.' + it (HF PEFT's `target_modules` rule); a RegExp matches where `test` is true. */
export type LayerPattern = string | RegExp;

/** Names of the DiT's linear layers (a 2-D `.weight` and a `.bias`), in parameter order, e.g. 'blocks.0.attn.qkv'. */
export function linearLayers(dit: DiT): string[] {
  return Object.keys(dit.params)
    .filter((k) => k.endsWith('.weight') && dit.params[k]!.rank === 2 && `${k.slice(0, -7)}.bias` in dit.params)
    .map((k) => k.slice(0, -7));
}

export function matchesPattern(layer: string, pattern: LayerPattern): boolean {
  return typeof pattern === 'string' ? layer === pattern || layer.endsWith(`.${pattern}`) : pattern.test(layer);
}

/**
 * The linear layers matched by any of `patterns`, in parameter order. A pattern that matches no layer
 * throws (a typo would otherwise silently train nothing there), naming `option` and the layers available.
 */
export function selectLayers(dit: DiT, patterns: readonly LayerPattern[], option: string): string[] {
  const layers = linearLayers(dit);
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new PeftConfigError(`${option} must list at least one layer pattern, e.g. ['attn.qkv', 'attn.proj']`);
  }
  for (const p of patterns) {
    if (typeof p !== 'string' && !(p instanceof RegExp)) {
      throw new PeftConfigError(`${option}: each pattern must be a string or RegExp, got ${String(p)}`);
    }
    if (!layers.some((l) => matchesPattern(l, p))) {
      throw new PeftConfigError(
        `${option}: pattern ${String(p)} matches no linear layer of this DiT; use a layer name or a suffix ` +
          `after a '.', e.g. 'attn.qkv', 'mlp.fc1' (this model's linear layers: ${layers.join(', ')})`,
      );
    }
  }
  return layers.filter((l) => patterns.some((p) => matchesPattern(l, p)));
}

/** A positive integer option, or a PeftConfigError naming it and the fix. */
export function positiveInteger(value: unknown, option: string, fix: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new PeftConfigError(`${option} must be a positive integer, got ${String(value)}; ${fix}`);
  }
  return value;
}

/** A finite number option (> 0 when `positive`), or a PeftConfigError naming it. */
export function finiteNumber(value: unknown, option: string, positive: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (positive && value <= 0)) {
    throw new PeftConfigError(`${option} must be a finite${positive ? ' positive' : ''} number, got ${String(value)}`);
  }
  return value;
}

/** A trainable float32 variable holding `values` (the source tensor is released, as createDiT does). */
export function trainableVariable(values: Float32Array, shape: number[]): tf.Variable {
  const source = tf.tensor(values, shape, 'float32');
  const v = tf.variable(source, true);
  source.dispose();
  return v;
}

export function countParams(params: Record<string, tf.Variable>): number {
  return Object.values(params).reduce((n, v) => n + v.size, 0);
}

/** The block index of a layer name 'blocks.<i>.…', or -1. */
export function blockOf(layer: string): number {
  const m = /^blocks\.(\d+)\./.exec(layer);
  return m ? Number(m[1]) : -1;
}

/**
 * Merging an additive weight update W ← W_eff into the DiT's own variables and undoing it exactly.
 * `merge` keeps a copy of each original weight (memory: the targeted weights once more) and `unmerge`
 * assigns the copy back, so the original bits return (not W_eff − ΔW, which rounds).
 */
export class WeightMerger {
  private originals: Record<string, tf.Tensor> | null = null;

  constructor(
    private readonly dit: DiT,
    private readonly layers: readonly string[],
    /** The effective weight of `layer` from its stored weight `w` (the method's adaptation). */
    private readonly effective: (layer: string, w: tf.Tensor2D) => tf.Tensor2D,
    private readonly method: string,
  ) {}

  get merged(): boolean {
    return this.originals !== null;
  }

  /** W_eff of every adapted layer as new tensors keyed by weight name ('blocks.0.attn.qkv.weight'); the caller disposes them. */
  mergedWeights(): Record<string, tf.Tensor2D> {
    if (this.originals) {
      return Object.fromEntries(this.layers.map((l) => [`${l}.weight`, tf.clone(this.dit.params[`${l}.weight`]!) as tf.Tensor2D]));
    }
    return Object.fromEntries(
      this.layers.map((l) => [`${l}.weight`, tf.tidy(() => this.effective(l, this.dit.params[`${l}.weight`] as tf.Tensor2D))]),
    );
  }

  merge(): void {
    if (this.originals) throw new PeftConfigError(`${this.method}: already merged; call unmerge() first`);
    const originals: Record<string, tf.Tensor> = {};
    for (const l of this.layers) {
      const v = this.dit.params[`${l}.weight`]!;
      originals[l] = tf.clone(v);
      const merged = tf.tidy(() => this.effective(l, v as tf.Tensor2D));
      v.assign(merged);
      merged.dispose();
    }
    this.originals = originals;
  }

  unmerge(): void {
    if (!this.originals) throw new PeftConfigError(`${this.method}: not merged; call merge() first`);
    for (const l of this.layers) {
      const original = this.originals[l]!;
      this.dit.params[`${l}.weight`]!.assign(original);
      original.dispose();
    }
    this.originals = null;
  }

  /** Frees the kept originals (the DiT keeps its merged weights). */
  dispose(): void {
    if (this.originals) tf.dispose(Object.values(this.originals));
    this.originals = null;
  }
}
