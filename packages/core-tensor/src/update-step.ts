import * as tf from '@tensorflow/tfjs-core';
import { type AdamW, adamwInternals } from './adamw.js';
import { clipByGlobalNorm } from './clip.js';
import { type Ema, emaInternals } from './ema.js';
import { loadAddon, type NativeAddon } from './native/addon.js';
import { NativeBackend } from './native/native-backend.js';

/** Where clipAdamWEma runs: `native` (one fused kernel), `tfjs` (the reference ops), `auto` (native when it can). */
export type UpdateEngine = 'auto' | 'native' | 'tfjs';

export interface ClipAdamWEmaOptions {
  /** clip_grad_norm_'s max_norm; Infinity (or 0) turns clipping off. */
  maxNorm: number;
  /** AdamW's learning rate for this step (default: the optimizer's lr). */
  lr?: number;
  /** The EMA's decay for this step (default: the Ema's decay). */
  emaDecay?: number;
  /** false: measure the gradient norm only and change nothing (e.g. the loss was not finite). Default true. */
  apply?: boolean;
  /** Default `auto`. `native` throws when the fused kernel cannot run; `tfjs` always runs the reference ops. */
  engine?: UpdateEngine;
  /**
   * Parameters AdamW updates but the EMA does not follow (and need not track): an objective's auxiliary
   * weights that sampling never uses, e.g. REPA's projector. Default none.
   */
  withoutEma?: readonly string[];
}

export interface ClipAdamWEmaResult {
  /** Global L2 norm of the gradients before clipping (NaN/Infinity returned as they are). */
  norm: number;
  /** True when AdamW and the EMA ran: `apply` was true and the norm finite. */
  updated: boolean;
  /** Which implementation ran. */
  engine: 'native' | 'tfjs';
}

export class UpdateEngineError extends Error {
  override name = 'UpdateEngineError';
}

/**
 * The optimizer end of a training step: the gradients' global norm, clipping as
 * torch.nn.utils.clip_grad_norm_, AdamW at `lr`, then the EMA of every parameter in `params` at
 * `emaDecay` — exactly clipByGlobalNorm + AdamW.step + Ema.update (the reference, still used as the
 * fallback), in one native call over all parameters instead of ~20 tfjs ops per parameter. A
 * non-finite norm changes nothing. The gradients are read, never disposed or changed.
 *
 * On the native backend the results equal the reference's bit for bit (the same float32 operations in
 * the same order, the norm summed as the Sum kernel sums). Parameters, moments and averages are
 * overwritten in place when nothing else can see their arrays (see NativeBackend.writableInPlace),
 * else written to new arrays and rebound, so a tensor anyone read or still holds never changes.
 */
export function clipAdamWEma(
  params: Record<string, tf.Variable>,
  grads: Record<string, tf.Tensor>,
  optimizer: AdamW,
  ema: Ema | null,
  opts: ClipAdamWEmaOptions,
): ClipAdamWEmaResult {
  const maxNorm = opts.maxNorm > 0 ? opts.maxNorm : Infinity;
  if (Number.isNaN(opts.maxNorm) || opts.maxNorm < 0) throw new RangeError(`clipAdamWEma: maxNorm must be ≥ 0 (0 or Infinity: no clipping), got ${opts.maxNorm}`);
  const lr = opts.lr ?? optimizer.lr;
  const emaDecay = opts.emaDecay ?? ema?.decay ?? 0;
  if (ema && !(emaDecay >= 0 && emaDecay <= 1)) throw new RangeError(`clipAdamWEma: emaDecay must be in [0, 1], got ${emaDecay}`);
  const apply = opts.apply ?? true;
  const engine = opts.engine ?? 'auto';
  const skipEma = new Set(opts.withoutEma ?? []);
  const averaged = skipEma.size === 0 ? params : Object.fromEntries(Object.entries(params).filter(([k]) => !skipEma.has(k)));
  // Validate first, so a bad call changes nothing on either path.
  adamwInternals(optimizer).validate(params, grads);
  if (ema && apply) emaInternals(ema).validate(averaged);

  const native = engine === 'tfjs' ? null : nativeUpdater(params, grads, optimizer, ema, skipEma);
  if (native && 'reason' in native) {
    if (engine === 'native') throw new UpdateEngineError(`clipAdamWEma: the native fused update cannot run: ${native.reason}`);
    noteFallback(native.reason);
  }
  if (native && !('reason' in native)) {
    const norm = native.norm();
    const updated = apply && Number.isFinite(norm);
    if (updated) native.update(norm, maxNorm, lr, emaDecay);
    return { norm, updated, engine: 'native' };
  }

  const clipped = clipByGlobalNorm(grads, maxNorm);
  const updated = apply && Number.isFinite(clipped.norm);
  try {
    if (updated) {
      optimizer.step(params, clipped.grads, lr);
      ema?.update(averaged, emaDecay);
    }
  } finally {
    tf.dispose(Object.values(clipped.grads));
  }
  return { norm: clipped.norm, updated, engine: 'tfjs' };
}

let fallbackNoted = false;

/** One line per process when `auto` falls back to the tfjs ops, saying why. */
function noteFallback(reason: string): void {
  if (fallbackNoted) return;
  fallbackNoted = true;
  process.stderr.write(`difflab: gradient clipping, AdamW and EMA run as tfjs ops, not the fused native kernel: ${reason}\n`);
}

interface NativeUpdater {
  norm(): number;
  update(norm: number, maxNorm: number, lr: number, emaDecay: number): void;
}

function nativeUpdater(
  params: Record<string, tf.Variable>,
  grads: Record<string, tf.Tensor>,
  optimizer: AdamW,
  ema: Ema | null,
  skipEma: ReadonlySet<string>,
): NativeUpdater | { reason: string } {
  const load = loadAddon();
  if (!load.ok) return { reason: `the native addon is unavailable (${load.reason}); build it with npm run build-native -w @difflab/core-tensor` };
  const addon = load.addon;
  if (!addon.adamwEma || !addon.sumsOfSquares) {
    return { reason: 'the native addon predates the fused optimizer kernel; rebuild it with npm run build-native -w @difflab/core-tensor' };
  }
  const backend = tf.backend();
  if (!(backend instanceof NativeBackend)) return { reason: `the tfjs backend is '${tf.getBackend()}', not native` };
  const opt = adamwInternals(optimizer);
  const averages = ema ? emaInternals(ema).w : null;
  const valuesOf = (t: tf.Tensor, what: string): Float32Array | string => {
    const v = t.dtype === 'float32' && !t.isDisposed ? backend.float32Values(t.dataId) : null;
    return v && v.length >= t.size ? v : `${what} is not a float32 tensor on the native backend`;
  };
  const gradNames = Object.keys(grads);
  const gradValues: Float32Array[] = [];
  for (const name of gradNames) {
    const g = valuesOf(grads[name]!, `the gradient of '${name}'`);
    if (typeof g === 'string') return { reason: g };
    gradValues.push(g);
  }
  // Every tensor the update reads must be on this backend too.
  for (const [name, p] of Object.entries(params)) {
    const checks: [tf.Tensor | undefined, string][] = [
      [p, `parameter '${name}'`],
      [opt.m.get(name), `the first moment of '${name}'`],
      [opt.v.get(name), `the second moment of '${name}'`],
      [skipEma.has(name) ? undefined : averages?.get(name), `the average of '${name}'`],
    ];
    for (const [t, what] of checks) {
      if (t && typeof valuesOf(t, what) === 'string') return { reason: valuesOf(t, what) as string };
    }
  }
  return {
    norm: () => globalNorm(addon, gradValues, gradNames.map((n) => grads[n]!.size)),
    update: (norm, maxNorm, lr, emaDecay) => {
      opt.step += 1;
      fusedUpdate(addon, backend, params, grads, optimizer, averages, skipEma, { norm, maxNorm, lr, emaDecay, t: opt.step });
    },
  };
}

/** √(Σ over tensors of Σ g²), as clipByGlobalNorm computes it: per-tensor sums in float32, added in float32 in order. */
function globalNorm(addon: NativeAddon, gradValues: Float32Array[], sizes: number[]): number {
  if (gradValues.length === 0) return 0;
  const sums = new Float32Array(gradValues.length);
  addon.sumsOfSquares!(gradValues, Float64Array.from(sizes), sums);
  let total = 0;
  for (const s of sums) total = Math.fround(total + s);
  return Math.fround(Math.sqrt(total));
}

function fusedUpdate(
  addon: NativeAddon,
  backend: NativeBackend,
  params: Record<string, tf.Variable>,
  grads: Record<string, tf.Tensor>,
  optimizer: AdamW,
  averages: Map<string, tf.Tensor> | null,
  skipEma: ReadonlySet<string>,
  s: { norm: number; maxNorm: number; lr: number; emaDecay: number; t: number },
): void {
  const opt = adamwInternals(optimizer);
  const { beta1: b1, beta2: b2, eps, weightDecay } = optimizer;
  const coef = s.maxNorm / (s.norm + 1e-6);
  const shrink = 1 - s.lr * weightDecay;
  // The gradients' parameters first, then those the EMA follows without a gradient.
  const names = [...Object.keys(grads), ...(averages ? Object.keys(params).filter((n) => !(n in grads) && !skipEma.has(n)) : [])];
  const arrays: (Float32Array | null)[] = [];
  const sizes = new Float64Array(names.length);
  const decay = new Uint8Array(names.length);
  // Outputs that could not be written in place: new arrays to bind once the kernel has run.
  const rebinds: (() => void)[] = [];
  const out = (t: tf.Tensor, bind: (values: Float32Array) => void): Float32Array => {
    const inPlace = backend.writableInPlace(t.dataId);
    if (inPlace) return inPlace;
    const fresh = backend.alloc(t.size);
    rebinds.push(() => bind(fresh));
    return fresh;
  };
  const replaceIn = (map: Map<string, tf.Tensor>, name: string, shape: number[]) => (values: Float32Array) => {
    map.get(name)?.dispose();
    map.set(name, tf.keep(tensorOn(backend, values, shape)));
  };
  names.forEach((name, j) => {
    const p = params[name]!;
    const g = grads[name];
    sizes[j] = p.size;
    const pIn = backend.float32Values(p.dataId)!;
    let pOut: Float32Array | null = null, mIn: Float32Array | null = null, mOut: Float32Array | null = null;
    let vIn: Float32Array | null = null, vOut: Float32Array | null = null;
    if (g) {
      decay[j] = opt.decays(name) && shrink !== 1 ? 1 : 0;
      pOut = out(p, (values) => {
        const t = tensorOn(backend, values, p.shape);
        p.assign(t);
        t.dispose();
      });
      const m0 = opt.m.get(name), v0 = opt.v.get(name);
      if (m0 && v0) {
        mIn = backend.float32Values(m0.dataId);
        vIn = backend.float32Values(v0.dataId);
        mOut = out(m0, replaceIn(opt.m, name, p.shape));
        vOut = out(v0, replaceIn(opt.v, name, p.shape));
      } else {
        // First step for this parameter (moments start at zero); a lone moment is replaced, as AdamW.step does.
        mOut = backend.alloc(p.size);
        vOut = backend.alloc(p.size);
        const m = mOut, v = vOut;
        rebinds.push(() => replaceIn(opt.m, name, p.shape)(m), () => replaceIn(opt.v, name, p.shape)(v));
      }
    }
    const e0 = skipEma.has(name) ? undefined : averages?.get(name);
    const eIn = e0 ? backend.float32Values(e0.dataId) : null;
    const eOut = e0 ? out(e0, replaceIn(averages!, name, p.shape)) : null;
    arrays.push(g ? backend.float32Values(g.dataId) : null, pIn, pOut, mIn, mOut, vIn, vOut, eIn, eOut);
  });
  const scalars = Float64Array.of(
    b1, 1 - b1, b2, 1 - b2, Math.sqrt(1 - b2 ** s.t), eps, s.lr / (1 - b1 ** s.t), shrink, coef, s.emaDecay, 1 - s.emaDecay,
  );
  addon.adamwEma!(arrays, sizes, decay, scalars, coef < 1);
  for (const bind of rebinds) bind();
}

/** A tensor over `values` (which the backend then owns), without running a kernel. */
function tensorOn(backend: NativeBackend, values: Float32Array, shape: number[]): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(backend.makeTensorInfo(shape, 'float32', values), backend);
}
