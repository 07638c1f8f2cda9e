import { fileURLToPath } from 'node:url';
import { readNpz } from '@difflab/data';
import { describe, expect, it } from 'vitest';
import {
  besselI0,
  frameCount,
  hertzToMel,
  logMelSpectrogram,
  melMatrix,
  MetricInputError,
  periodicHann,
  resample,
  SAMPLES_PER_EXAMPLE,
  stftMagnitude,
  VGGISH_FRONT_END,
  waveformToExamples,
} from '../src/index.js';

// Made by tools/bench/peers/vggish_mel.py (resampy + NumPy), which documents every array.
const fixture = readNpz(fileURLToPath(new URL('./audio-fixtures/vggish-front-end.npz', import.meta.url)));
const array = (name: string) => fixture.get(name)!.data as Float64Array | Float32Array;

/** The peer's test signal, rebuilt from the same closed form. */
function testSignal(): Float64Array {
  const sr = 22050;
  const x = new Float64Array(Math.trunc(1.1 * sr));
  for (let n = 0; n < x.length; n++) {
    const t = n / sr;
    x[n] =
      0.4 * Math.sin(2 * Math.PI * 440 * t) +
      0.2 * Math.sin(2 * Math.PI * 3150 * t + 0.3) +
      0.15 * Math.sin(2 * Math.PI * (200 * t + 0.5 * 6000 * t * t)) +
      0.25 * Math.exp(-40 * (t % 0.125)) * Math.cos(2 * Math.PI * 1000 * t);
  }
  return x;
}

function tone(freq: number, rate: number, seconds: number, amp = 1): Float64Array {
  const x = new Float64Array(Math.round(rate * seconds));
  for (let n = 0; n < x.length; n++) x[n] = amp * Math.sin((2 * Math.PI * freq * n) / rate);
  return x;
}

/** Amplitude of the `freq` component of x (least-squares sinusoid fit ≈ 2/N·|DFT| for whole cycles). */
function amplitudeAt(x: ArrayLike<number>, freq: number, rate: number, from = 0, to = x.length): number {
  let c = 0;
  let s = 0;
  for (let n = from; n < to; n++) {
    c += x[n]! * Math.cos((2 * Math.PI * freq * n) / rate);
    s += x[n]! * Math.sin((2 * Math.PI * freq * n) / rate);
  }
  return (2 / (to - from)) * Math.hypot(c, s);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('resample (resampy kaiser_best)', () => {
  it('matches resampy on the peer signal, sample for sample', () => {
    const y = resample(testSignal(), 22050, 16000);
    expect(y.length).toBe(17600); // ⌊24255·16000/22050⌋
    const ref = array('x16k_every7');
    const every7 = y.filter((_, i) => i % 7 === 0);
    expect(every7.length).toBe(ref.length);
    expect(maxAbsDiff(every7, ref)).toBeLessThan(1e-9);
  });

  it('keeps a pure tone at its frequency and amplitude', () => {
    const y = resample(tone(1000, 22050, 1), 22050, 16000);
    // Away from the edges (the filter spans 50 zero crossings ≈ 3 ms on each side).
    expect(amplitudeAt(y, 1000, 16000, 800, 15200)).toBeCloseTo(1, 4);
    expect(amplitudeAt(y, 1100, 16000, 800, 15200)).toBeLessThan(1e-3);
  });

  it('suppresses a tone above the new Nyquist frequency instead of aliasing it', () => {
    // 10 kHz at 22.05 kHz would alias to 6 kHz at 16 kHz.
    const y = resample(tone(10000, 22050, 1), 22050, 16000);
    expect(amplitudeAt(y, 6000, 16000, 800, 15200)).toBeLessThan(1e-5); // < −100 dB
  });

  it('upsamples, passes equal rates through and rejects bad rates', () => {
    const up = resample(tone(440, 8000, 0.5), 8000, 16000);
    expect(up.length).toBe(8000);
    expect(amplitudeAt(up, 440, 16000, 400, 7600)).toBeCloseTo(1, 4);
    expect(Array.from(resample([1, 2, 3], 16000, 16000))).toEqual([1, 2, 3]);
    expect(() => resample([1, 2], 0, 16000)).toThrow(MetricInputError);
    expect(() => resample([1], 22050, 16000)).toThrow(/too few/);
  });

  it('computes I0 to double precision', () => {
    expect(besselI0(0)).toBe(1);
    expect(besselI0(1)).toBeCloseTo(1.2660658777520082, 15); // A&S table 9.8
    expect(besselI0(12.9846) / Math.exp(12.9846) * Math.sqrt(2 * Math.PI * 12.9846)).toBeCloseTo(1 + 1 / (8 * 12.9846), 3);
  });
});

describe('VGGish log-mel front end', () => {
  it('uses the reference constants', () => {
    expect(VGGISH_FRONT_END).toMatchObject({ sampleRate: 16000, windowSamples: 400, hopSamples: 160, fftLength: 512, melBands: 64, melMinHz: 125, melMaxHz: 7500, logOffset: 0.01, exampleFrames: 96 });
    expect(SAMPLES_PER_EXAMPLE).toBe(15600);
  });

  it('maps hertz to mel with the HTK formula', () => {
    expect(hertzToMel(0)).toBe(0);
    expect(hertzToMel(700)).toBeCloseTo(1127 * Math.LN2, 12);
    expect(hertzToMel(1000)).toBeCloseTo(999.99070, 4); // 1127·ln(17/7)
  });

  it('builds a periodic Hann window', () => {
    const w = periodicHann(8);
    expect(Array.from(w).map((v) => +v.toFixed(12))).toEqual([0, 0.146446609407, 0.5, 0.853553390593, 1, 0.853553390593, 0.5, 0.146446609407]);
  });

  it('counts only complete frames', () => {
    expect(frameCount(399, 400, 160)).toBe(0);
    expect(frameCount(400, 400, 160)).toBe(1);
    expect(frameCount(16000, 400, 160)).toBe(98);
  });

  it('builds the mel filterbank the peer builds', () => {
    const m = melMatrix({ bands: 64, spectrogramBins: 257, sampleRate: 16000, lowHz: 125, highHz: 7500 });
    expect([m.rows, m.cols]).toEqual([257, 64]);
    expect(maxAbsDiff(m.data, array('mel_matrix'))).toBeLessThan(1e-12);
    // Adjacent triangles are complementary between the first and last band centres.
    const k = 100; // 3125 Hz
    let sum = 0;
    for (let b = 0; b < 64; b++) sum += m.data[k * 64 + b]!;
    expect(sum).toBeCloseTo(1, 12);
    expect(() => melMatrix({ bands: 64, spectrogramBins: 257, sampleRate: 16000, lowHz: 125, highHz: 9000 })).toThrow(/Nyquist/);
  });

  it('satisfies Parseval for each STFT frame', () => {
    const x = tone(1234, 16000, 0.05, 0.7);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + 0.1 * Math.cos(i * i * 0.001);
    const spec = stftMagnitude(x, 512, 160, 400);
    const hann = periodicHann(400);
    for (let f = 0; f < spec.rows; f++) {
      let time = 0;
      for (let i = 0; i < 400; i++) time += (x[f * 160 + i]! * hann[i]!) ** 2;
      let freq = 0;
      for (let k = 0; k < spec.cols; k++) freq += (k === 0 || k === 256 ? 1 : 2) * spec.data[f * spec.cols + k]! ** 2;
      expect(freq / 512).toBeCloseTo(time, 9);
    }
  });

  it('puts a pure tone in the band whose centre is nearest', () => {
    const lo = hertzToMel(125);
    const hi = hertzToMel(7500);
    const centreHz = (b: number) => 700 * (Math.exp((lo + ((hi - lo) * (b + 1)) / 65) / 1127) - 1);
    for (const band of [10, 40]) {
      const mel = logMelSpectrogram(tone(centreHz(band), 16000, 0.2));
      const row = mel.data.subarray(5 * 64, 6 * 64);
      expect(row.indexOf(Math.max(...row))).toBe(band);
    }
  });

  it('matches the peer log-mel spectrogram and frames it into 0.96 s examples', () => {
    const x16 = resample(testSignal(), 22050, 16000);
    const mel = logMelSpectrogram(x16);
    expect([mel.rows, mel.cols]).toEqual([108, 64]);
    expect(maxAbsDiff(mel.data, array('log_mel'))).toBeLessThan(1e-5); // fixture stored as float32
    const ex = waveformToExamples({ sampleRate: 22050, samples: Float32Array.from(testSignal()) });
    expect(ex.count).toBe(1);
    // float32 input samples (≈ 6e-8 relative) are amplified by the log in near-silent bands.
    expect(maxAbsDiff(ex.data, mel.data.subarray(0, 96 * 64))).toBeLessThan(2e-4);
  });

  it('drops clips shorter than one example unless asked to pad them', () => {
    const short = { sampleRate: 16000, samples: Float32Array.from(tone(500, 16000, 0.5)) };
    expect(waveformToExamples(short).count).toBe(0);
    const padded = waveformToExamples(short, { padShort: true });
    expect(padded.count).toBe(1);
    expect(padded.data[95 * 64 + 10]).toBeCloseTo(Math.log(0.01), 6); // the padding is silence
    expect(waveformToExamples({ sampleRate: 16000, samples: new Float32Array(3 * 15360 + 240) }).count).toBe(3);
  });
});
