import { MetricInputError } from '../errors.js';
import { resample } from './resample.js';
import type { Audio } from './wav.js';

/**
 * The VGGish front end's constants (vggish_params.py): 16 kHz audio, 25 ms periodic-Hann windows
 * every 10 ms, a 512-point FFT, 64 HTK-mel bands over 125–7500 Hz of the magnitude spectrum,
 * log(mel + 0.01), and examples of 96 frames (0.96 s) taken every 96 frames.
 */
export const VGGISH_FRONT_END = {
  sampleRate: 16000,
  windowSamples: 400,
  hopSamples: 160,
  fftLength: 512,
  melBands: 64,
  melMinHz: 125,
  melMaxHz: 7500,
  logOffset: 0.01,
  exampleFrames: 96,
  exampleHopFrames: 96,
} as const;

/** Samples at 16 kHz that make exactly one example: 400 + 95·160. */
export const SAMPLES_PER_EXAMPLE = VGGISH_FRONT_END.windowSamples + (VGGISH_FRONT_END.exampleFrames - 1) * VGGISH_FRONT_END.hopSamples;

/** Row-major matrix of float64 values. */
export interface Matrix64 {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** HTK mel scale: 1127·ln(1 + f/700). */
export function hertzToMel(hz: number): number {
  return 1127 * Math.log(1 + hz / 700);
}

/** Hann window of period `n` (ends one sample before the closing zero), as mel_features.periodic_hann. */
export function periodicHann(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** Number of complete frames of `window` values every `hop` values (no padding: partial frames are dropped). */
export function frameCount(length: number, window: number, hop: number): number {
  return length < window ? 0 : 1 + Math.floor((length - window) / hop);
}

export interface MelMatrixOptions {
  bands: number;
  spectrogramBins: number;
  sampleRate: number;
  lowHz: number;
  highHz: number;
}

/**
 * (spectrogramBins × bands) weights that post-multiply magnitude-spectrogram rows into mel bands:
 * triangles linear in mel with edges evenly spaced in mel from lowHz to highHz, and the DC bin
 * zeroed (HTK excludes it), as mel_features.spectrogram_to_mel_matrix. Triangles are not area-normalised.
 */
export function melMatrix(opts: MelMatrixOptions): Matrix64 {
  const { bands, spectrogramBins, sampleRate, lowHz, highHz } = opts;
  const nyquist = sampleRate / 2;
  if (!(lowHz >= 0) || !(lowHz < highHz) || !(highHz <= nyquist)) {
    throw new MetricInputError(`melMatrix: need 0 ≤ lowHz < highHz ≤ Nyquist (${nyquist} Hz), got ${lowHz}..${highHz} Hz`);
  }
  const binMel = new Float64Array(spectrogramBins);
  for (let k = 0; k < spectrogramBins; k++) binMel[k] = hertzToMel((nyquist * k) / (spectrogramBins - 1));
  const lo = hertzToMel(lowHz);
  const hi = hertzToMel(highHz);
  const edge = (i: number) => lo + ((hi - lo) * i) / (bands + 1);
  const data = new Float64Array(spectrogramBins * bands);
  for (let b = 0; b < bands; b++) {
    const [l, c, u] = [edge(b), edge(b + 1), edge(b + 2)];
    for (let k = 1; k < spectrogramBins; k++) {
      const m = binMel[k]!;
      data[k * bands + b] = Math.max(0, Math.min((m - l) / (c - l), (u - m) / (u - c)));
    }
  }
  return { rows: spectrogramBins, cols: bands, data };
}

/** In-place iterative radix-2 complex FFT; `re.length` must be a power of two. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let k = 0; k < len / 2; k++) {
      const wr = Math.cos(ang * k);
      const wi = Math.sin(ang * k);
      for (let s = k; s < n; s += len) {
        const t = s + len / 2;
        const xr = re[t]! * wr - im[t]! * wi;
        const xi = re[t]! * wi + im[t]! * wr;
        re[t] = re[s]! - xr;
        im[t] = im[s]! - xi;
        re[s] = re[s]! + xr;
        im[s] = im[s]! + xi;
      }
    }
  }
}

/**
 * |rfft| of periodic-Hann-windowed frames, zero-padded to `fftLength`: frames × (fftLength/2 + 1),
 * as mel_features.stft_magnitude.
 */
export function stftMagnitude(signal: ArrayLike<number>, fftLength: number, hop: number, window: number): Matrix64 {
  if (!Number.isInteger(Math.log2(fftLength)) || fftLength < window) {
    throw new MetricInputError(`stftMagnitude: fftLength must be a power of two ≥ the window (${window}), got ${fftLength}`);
  }
  const frames = frameCount(signal.length, window, hop);
  const bins = fftLength / 2 + 1;
  const hann = periodicHann(window);
  const data = new Float64Array(frames * bins);
  const re = new Float64Array(fftLength);
  const im = new Float64Array(fftLength);
  for (let f = 0; f < frames; f++) {
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < window; i++) re[i] = signal[f * hop + i]! * hann[i]!;
    fft(re, im);
    for (let k = 0; k < bins; k++) data[f * bins + k] = Math.hypot(re[k]!, im[k]!);
  }
  return { rows: frames, cols: bins, data };
}

let vggishMel: Matrix64 | undefined;

/** log(mel + 0.01) of a 16 kHz signal with VGGish's parameters: frames × 64. */
export function logMelSpectrogram(signal: ArrayLike<number>): Matrix64 {
  const p = VGGISH_FRONT_END;
  const spec = stftMagnitude(signal, p.fftLength, p.hopSamples, p.windowSamples);
  vggishMel ??= melMatrix({ bands: p.melBands, spectrogramBins: spec.cols, sampleRate: p.sampleRate, lowHz: p.melMinHz, highHz: p.melMaxHz });
  const mel = vggishMel;
  const out = new Float64Array(spec.rows * mel.cols);
  for (let f = 0; f < spec.rows; f++) {
    for (let k = 1; k < spec.cols; k++) {
      const s = spec.data[f * spec.cols + k]!;
      if (s === 0) continue;
      for (let b = 0; b < mel.cols; b++) out[f * mel.cols + b] = out[f * mel.cols + b]! + s * mel.data[k * mel.cols + b]!;
    }
    for (let b = 0; b < mel.cols; b++) out[f * mel.cols + b] = Math.log(out[f * mel.cols + b]! + p.logOffset);
  }
  return { rows: spec.rows, cols: mel.cols, data: out };
}

/** VGGish input examples: `count` patches of 96 frames × 64 bands, row-major, float32. */
export interface LogMelExamples {
  count: number;
  data: Float32Array;
}

export interface ExampleOptions {
  /**
   * Zero-pad clips shorter than one example (0.96 s) to exactly one example. The reference drops
   * them (it yields no example); spoken digits are often shorter than a second, so the
   * spoken-digits pipeline pads. Default false (the reference behaviour).
   */
  padShort?: boolean;
}

/**
 * vggish_input.waveform_to_examples: resample to 16 kHz (resampy's kaiser_best), log-mel
 * spectrogram, then non-overlapping 96-frame examples; a trailing partial example is dropped.
 */
export function waveformToExamples(audio: Audio, opts: ExampleOptions = {}): LogMelExamples {
  const p = VGGISH_FRONT_END;
  let x: ArrayLike<number> = audio.sampleRate === p.sampleRate ? audio.samples : resample(audio.samples, audio.sampleRate, p.sampleRate);
  if (opts.padShort && x.length < SAMPLES_PER_EXAMPLE) {
    const padded = new Float64Array(SAMPLES_PER_EXAMPLE);
    for (let i = 0; i < x.length; i++) padded[i] = x[i]!;
    x = padded;
  }
  const mel = logMelSpectrogram(x);
  const count = frameCount(mel.rows, p.exampleFrames, p.exampleHopFrames);
  const size = p.exampleFrames * p.melBands;
  const data = new Float32Array(count * size);
  for (let e = 0; e < count; e++) data.set(mel.data.subarray(e * p.exampleHopFrames * p.melBands, e * p.exampleHopFrames * p.melBands + size), e * size);
  return { count, data };
}
