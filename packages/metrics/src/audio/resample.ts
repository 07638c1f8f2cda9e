import { MetricInputError } from '../errors.js';

/**
 * resampy's `kaiser_best` filter, the one VGGish's reference front end resamples with: the right
 * wing of a Kaiser-windowed sinc (β = 12.9846, 50 zero crossings, 2¹³ table entries per crossing,
 * roll-off 0.917347 of Nyquist). Rebuilt from its published parameters; it equals the table
 * resampy ships to round-off (see docs/audio.md).
 */
const KAISER_BEST = { beta: 12.9846, zeros: 50, tablePerZero: 2 ** 13, rolloff: 0.917347 } as const;

let halfWindow: Float64Array | undefined;
/** The window scaled for one downsampling ratio and its first differences, per ratio. */
const scaledWindows = new Map<number, { win: Float64Array; delta: Float64Array }>();

/** Modified Bessel function of the first kind, order 0, by its power series (converges fast for x ≤ 20). */
export function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; term > 1e-17 * sum; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

function kaiserBestHalfWindow(): Float64Array {
  if (halfWindow) return halfWindow;
  const { beta, zeros, tablePerZero, rolloff } = KAISER_BEST;
  const n = zeros * tablePerZero;
  const w = new Float64Array(n + 1);
  const norm = besselI0(beta);
  for (let m = 0; m <= n; m++) {
    const r = m / n;
    const taper = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / norm;
    const x = (rolloff * m) / tablePerZero;
    const sinc = m === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    w[m] = taper * rolloff * sinc;
  }
  halfWindow = w;
  return w;
}

function scaledWindow(ratio: number): { win: Float64Array; delta: Float64Array } {
  let w = scaledWindows.get(ratio);
  if (!w) {
    const base = kaiserBestHalfWindow();
    // Downsampling widens the kernel in time by 1/ratio, so its gain is scaled by ratio (resampy does the same).
    const win = ratio < 1 ? base.map((v) => v * ratio) : base;
    const delta = new Float64Array(win.length);
    for (let i = 0; i < win.length - 1; i++) delta[i] = win[i + 1]! - win[i]!;
    w = { win, delta };
    scaledWindows.set(ratio, w);
  }
  return w;
}

/**
 * Band-limited resampling from `fromRate` to `toRate` Hz by windowed-sinc interpolation
 * (Smith's bandlimited interpolation, resampy's algorithm and `kaiser_best` filter). The output has
 * ⌊n·toRate/fromRate⌋ samples, like resampy; when downsampling, the filter's cut-off moves to the
 * new Nyquist frequency so content above it is suppressed rather than aliased.
 */
export function resample(input: ArrayLike<number>, fromRate: number, toRate: number): Float64Array {
  if (!(fromRate > 0) || !(toRate > 0)) throw new MetricInputError(`resample: sample rates must be positive, got ${fromRate} → ${toRate}`);
  const x = Float64Array.from(input); // one element type keeps the inner loops monomorphic
  if (fromRate === toRate) return x;
  const nIn = x.length;
  const nOut = Math.trunc((nIn * toRate) / fromRate);
  if (nOut < 1) throw new MetricInputError(`resample: ${nIn} samples are too few to resample from ${fromRate} to ${toRate} Hz`);
  const ratio = toRate / fromRate;
  const { win, delta } = scaledWindow(ratio);
  const nwin = win.length;
  const numTable = KAISER_BEST.tablePerZero;
  const scale = Math.min(1, ratio);
  const indexStep = Math.trunc(scale * numTable);
  const step = 1 / ratio;
  const y = new Float64Array(nOut);
  for (let t = 0; t < nOut; t++) {
    const time = t * step;
    const n = Math.trunc(time);
    let acc = 0;
    // Left wing: input samples at and before `time`.
    let frac = scale * (time - n);
    let indexFrac = frac * numTable;
    let offset = Math.trunc(indexFrac);
    let eta = indexFrac - offset;
    const iMax = Math.min(n + 1, Math.trunc((nwin - offset) / indexStep));
    for (let i = 0; i < iMax; i++) {
      const k = offset + i * indexStep;
      acc += (win[k]! + eta * delta[k]!) * x[n - i]!;
    }
    // Right wing: input samples after `time`.
    frac = scale - frac;
    indexFrac = frac * numTable;
    offset = Math.trunc(indexFrac);
    eta = indexFrac - offset;
    const kMax = Math.min(nIn - n - 1, Math.trunc((nwin - offset) / indexStep));
    for (let k = 0; k < kMax; k++) {
      const j = offset + k * indexStep;
      acc += (win[j]! + eta * delta[j]!) * x[n + k + 1]!;
    }
    y[t] = acc;
  }
  return y;
}
