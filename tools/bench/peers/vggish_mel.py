"""Peer for packages/metrics/test/audio-front-end.test.ts: VGGish's input pipeline in NumPy.

usage: /usr/bin/python3 vggish_mel.py OUT.npz
Resamples a fixed test signal (closed form, rebuilt identically by the test) from 22050 Hz to
16 kHz with resampy's kaiser_best (the library VGGish's vggish_input.py calls; Debian
python3-resampy), then computes the periodic-Hann STFT magnitude, HTK mel filterbank and
log(mel + 0.01) from the formulas in the VGGish paper's reference front end (vggish_params.py:
25 ms window, 10 ms hop, FFT 512, 64 bands over 125-7500 Hz). Written independently of the
TypeScript under test. Saves a small compressed .npz fixture: x16k_every7 (every 7th resampled
sample, float64), mel_matrix (257x64, float64), log_mel (frames x 64, float32).
"""
import sys

import numpy as np
import resampy

SR_IN, SR = 22050, 16000
WIN, HOP, NFFT, BANDS, LO, HI, OFFSET = 400, 160, 512, 64, 125.0, 7500.0, 0.01


def test_signal():
    """Two tones, a linear chirp and a decaying click train: spread over the whole band."""
    n = np.arange(int(1.1 * SR_IN))
    t = n / SR_IN
    x = 0.4 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 3150.0 * t + 0.3)
    x += 0.15 * np.sin(2 * np.pi * (200.0 * t + 0.5 * 6000.0 * t * t))  # 200 Hz rising at 6 kHz/s
    x += 0.25 * np.exp(-40.0 * (t % 0.125)) * np.cos(2 * np.pi * 1000.0 * t)
    return x


def mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz) / 700.0)


def mel_matrix(bins):
    freqs = np.linspace(0.0, SR / 2, bins)
    m = mel(freqs)
    edges = np.linspace(mel(LO), mel(HI), BANDS + 2)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    up = (m[:, None] - left[None, :]) / (centre - left)[None, :]
    down = (right[None, :] - m[:, None]) / (right - centre)[None, :]
    w = np.clip(np.minimum(up, down), 0.0, None)
    w[0, :] = 0.0  # no DC bin, as HTK
    return w


def log_mel(x):
    frames = 1 + (len(x) - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(frames)[:, None]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    spec = np.abs(np.fft.rfft(x[idx] * hann, NFFT))
    w = mel_matrix(spec.shape[1])
    return w, np.log(spec @ w + OFFSET)


def main():
    x = test_signal()
    y = resampy.resample(x, SR_IN, SR, filter='kaiser_best')
    w, lm = log_mel(y)
    np.savez_compressed(sys.argv[1], x16k_every7=y[::7], mel_matrix=w, log_mel=lm.astype(np.float32))
    print(f'x16k {y.shape}, mel_matrix {w.shape}, log_mel {lm.shape}')


if __name__ == '__main__':
    main()
