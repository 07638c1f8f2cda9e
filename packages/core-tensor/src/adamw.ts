import * as tf from '@tensorflow/tfjs-core';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which parameters get weight decay (default: all). DiT-style training usually excludes biases and norms. */
  decay?: (name: string) => boolean;
}

export interface OptimizerState {
  step: number;
  /** `m/<param>` and `v/<param>` moment tensors. */
  tensors: Record<string, tf.Tensor>;
}

export class OptimizerStateError extends Error {
  override name = 'OptimizerStateError';
}

/**
 * What the fused update (update-step.ts) needs of an AdamW beyond its public API: the step count and
 * the moment maps, which it updates in place or replaces. Module-internal (not exported by the package).
 */
export interface AdamWInternals {
  step: number;
  readonly m: Map<string, tf.Tensor>;
  readonly v: Map<string, tf.Tensor>;
  decays(name: string): boolean;
  validate(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>): void;
}

let internalsOf: (o: AdamW) => AdamWInternals;

/** @internal */
export function adamwInternals(o: AdamW): AdamWInternals {
  return internalsOf(o);
}

/**
 * AdamW exactly as torch.optim.AdamW (amsgrad off): p ← p·(1 − lr·wd), then Adam with bias
 * correction, eps added to sqrt(v̂). All parameters share one step count.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  private readonly decay: (name: string) => boolean;
  private t = 0;
  private readonly m = new Map<string, tf.Tensor>();
  private readonly v = new Map<string, tf.Tensor>();

  constructor(opts: AdamWOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.decay = opts.decay ?? (() => true);
    const check = (k: string, v: number, ok: boolean) => {
      if (!ok) throw new RangeError(`AdamW option ${k}=${v} is out of range`);
    };
    check('lr', this.lr, this.lr >= 0);
    check('beta1', this.beta1, this.beta1 >= 0 && this.beta1 < 1);
    check('beta2', this.beta2, this.beta2 >= 0 && this.beta2 < 1);
    check('eps', this.eps, this.eps >= 0);
    check('weightDecay', this.weightDecay, this.weightDecay >= 0);
  }

  static {
    internalsOf = (o) => ({
      get step() {
        return o.t;
      },
      set step(t: number) {
        o.t = t;
      },
      m: o.m,
      v: o.v,
      decays: (name) => o.decay(name),
      validate: (params, grads) => o.validate(params, grads),
    });
  }

  /** Updates each parameter that has a gradient; parameters without one are left alone (as torch does for grad=None). */
  step(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number = this.lr): void {
    this.validate(params, grads);
    this.t += 1;
    const { beta1: b1, beta2: b2, eps } = this;
    const stepSize = lr / (1 - b1 ** this.t);
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.t);
    for (const [name, g] of Object.entries(grads)) {
      const p = params[name]!;
      const m0 = this.m.get(name);
      const v0 = this.v.get(name);
      const shrink = this.decay(name) ? 1 - lr * this.weightDecay : 1;
      const [m, v] = tf.tidy(() => {
        const m = m0 ? tf.add(tf.mul(m0, b1), tf.mul(g, 1 - b1)) : tf.mul(g, 1 - b1);
        const v = v0 ? tf.add(tf.mul(v0, b2), tf.mul(tf.square(g), 1 - b2)) : tf.mul(tf.square(g), 1 - b2);
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), eps);
        const decayed = shrink === 1 ? p : tf.mul(p, shrink);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)));
        return [m, v];
      });
      m0?.dispose();
      v0?.dispose();
      this.m.set(name, m!);
      this.v.set(name, v!);
    }
  }

  /** Throws OptimizerStateError, before anything changes, when a gradient has no parameter or a shape differs. */
  private validate(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>): void {
    for (const [name, g] of Object.entries(grads)) {
      const p = params[name];
      if (!p) throw new OptimizerStateError(`AdamW.step: gradient '${name}' has no matching parameter`);
      if (!tf.util.arraysEqual(p.shape, g.shape)) {
        throw new OptimizerStateError(`AdamW.step: gradient '${name}' has shape [${g.shape}] but the parameter has [${p.shape}]`);
      }
      const m = this.m.get(name);
      if (m && !tf.util.arraysEqual(m.shape, p.shape)) {
        throw new OptimizerStateError(`AdamW.step: saved moments for '${name}' have shape [${m.shape}] but the parameter has [${p.shape}]`);
      }
    }
  }

  /** The moments are owned by the optimizer: read or save them, do not dispose them. */
  getState(): OptimizerState {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [k, t] of this.m) tensors[`m/${k}`] = t;
    for (const [k, t] of this.v) tensors[`v/${k}`] = t;
    return { step: this.t, tensors };
  }

  /** Replaces the state with copies of `state` (the caller keeps ownership of its tensors). */
  loadState(state: OptimizerState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new OptimizerStateError(`AdamW.loadState: step must be a non-negative integer, got ${state.step}`);
    const m = new Map<string, tf.Tensor>();
    const v = new Map<string, tf.Tensor>();
    for (const [key, t] of Object.entries(state.tensors)) {
      const slash = key.indexOf('/');
      const kind = key.slice(0, slash);
      if (slash < 0 || (kind !== 'm' && kind !== 'v')) throw new OptimizerStateError(`AdamW.loadState: key '${key}' must start with 'm/' or 'v/'`);
      (kind === 'm' ? m : v).set(key.slice(slash + 1), t);
    }
    for (const k of new Set([...m.keys(), ...v.keys()])) {
      const a = m.get(k);
      const b = v.get(k);
      if (!a || !b) throw new OptimizerStateError(`AdamW.loadState: parameter '${k}' needs both m/${k} and v/${k}`);
      if (!tf.util.arraysEqual(a.shape, b.shape)) throw new OptimizerStateError(`AdamW.loadState: m/${k} and v/${k} shapes differ`);
    }
    this.dispose();
    this.t = state.step;
    for (const [k, t] of m) this.m.set(k, tf.cast(t, 'float32'));
    for (const [k, t] of v) this.v.set(k, tf.cast(t, 'float32'));
  }

  /** Frees the moment tensors (the step count is kept). */
  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
    this.m.clear();
    this.v.clear();
  }
}
