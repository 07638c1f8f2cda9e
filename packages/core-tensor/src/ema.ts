import * as tf from '@tensorflow/tfjs-core';

export interface EmaState {
  decay: number;
  tensors: Record<string, tf.Tensor>;
}

export class EmaStateError extends Error {
  override name = 'EmaStateError';
}

/** What the fused update (update-step.ts) needs of an Ema: the averages, updated in place or replaced. Module-internal. */
export interface EmaInternals {
  readonly w: Map<string, tf.Tensor>;
  validate(params: Record<string, tf.Tensor>): void;
}

let internalsOf: (o: Ema) => EmaInternals;

/** @internal */
export function emaInternals(o: Ema): EmaInternals {
  return internalsOf(o);
}

/**
 * Exponential moving average of weights, as DiT's update_ema: ema ← decay·ema + (1 − decay)·param.
 * Starts as a copy of the given weights (DiT copies the model, then trains with decay 0.9999).
 */
export class Ema {
  private readonly w = new Map<string, tf.Tensor>();

  static {
    internalsOf = (o) => ({ w: o.w, validate: (params) => o.validate(params) });
  }

  constructor(
    params: Record<string, tf.Tensor>,
    public decay = 0.9999,
  ) {
    if (!(decay >= 0 && decay <= 1)) throw new RangeError(`Ema decay must be in [0, 1], got ${decay}`);
    for (const [k, p] of Object.entries(params)) this.w.set(k, tf.clone(p));
  }

  update(params: Record<string, tf.Tensor>, decay: number = this.decay): void {
    this.validate(params);
    for (const [k, p] of Object.entries(params)) {
      const old = this.w.get(k)!;
      this.w.set(k, tf.tidy(() => tf.add(tf.mul(old, decay), tf.mul(p, 1 - decay))));
      old.dispose();
    }
  }

  /** Throws EmaStateError, before anything changes, for a parameter not tracked or of another shape. */
  private validate(params: Record<string, tf.Tensor>): void {
    for (const [k, p] of Object.entries(params)) {
      const old = this.w.get(k);
      if (!old) throw new EmaStateError(`Ema.update: parameter '${k}' is not tracked; track it when constructing the Ema`);
      if (!tf.util.arraysEqual(old.shape, p.shape)) throw new EmaStateError(`Ema.update: '${k}' has shape [${p.shape}] but the average has [${old.shape}]`);
    }
  }

  /** The averaged weights, owned by the Ema: read or save them, do not dispose them. */
  get weights(): Record<string, tf.Tensor> {
    return Object.fromEntries(this.w);
  }

  getState(): EmaState {
    return { decay: this.decay, tensors: this.weights };
  }

  /** Replaces decay and averages with copies of state's (the caller keeps ownership of its tensors). */
  loadState(state: EmaState): void {
    for (const [k, t] of Object.entries(state.tensors)) {
      const old = this.w.get(k);
      if (old && !tf.util.arraysEqual(old.shape, t.shape)) throw new EmaStateError(`Ema.loadState: '${k}' has shape [${t.shape}] but the average has [${old.shape}]`);
    }
    if (!(state.decay >= 0 && state.decay <= 1)) throw new EmaStateError(`Ema.loadState: decay must be in [0, 1], got ${state.decay}`);
    this.dispose();
    this.decay = state.decay;
    for (const [k, t] of Object.entries(state.tensors)) this.w.set(k, tf.cast(t, 'float32'));
  }

  dispose(): void {
    tf.dispose([...this.w.values()]);
    this.w.clear();
  }
}
