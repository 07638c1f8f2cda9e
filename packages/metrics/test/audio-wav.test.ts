import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeWav, encodeWav, MetricFileError, readWav, WavFormatError, writeWav } from '../src/index.js';

/** A hand-built WAV: header fields as the RIFF spec lays them out, then raw sample bytes. */
function wavBytes(opts: { code: number; channels: number; rate: number; bits: number; data: Uint8Array; extraChunk?: boolean }): Uint8Array {
  const extra = opts.extraChunk ? 8 + 3 + 1 : 0; // an odd-sized LIST chunk plus its pad byte
  const out = new Uint8Array(44 + extra + opts.data.length);
  const v = new DataView(out.buffer);
  const tag = (at: number, s: string) => [...s].forEach((ch, i) => (out[at + i] = ch.charCodeAt(0)));
  tag(0, 'RIFF');
  v.setUint32(4, out.length - 8, true);
  tag(8, 'WAVE');
  tag(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, opts.code, true);
  v.setUint16(22, opts.channels, true);
  v.setUint32(24, opts.rate, true);
  v.setUint32(28, (opts.rate * opts.channels * opts.bits) / 8, true);
  v.setUint16(32, (opts.channels * opts.bits) / 8, true);
  v.setUint16(34, opts.bits, true);
  let at = 36;
  if (opts.extraChunk) {
    tag(at, 'LIST');
    v.setUint32(at + 4, 3, true);
    at += 12;
  }
  tag(at, 'data');
  v.setUint32(at + 4, opts.data.length, true);
  out.set(opts.data, at + 8);
  return out;
}

function int16Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  values.forEach((x, i) => new DataView(b.buffer).setInt16(2 * i, x, true));
  return b;
}

describe('WAV reading and writing', () => {
  it('decodes 16-bit PCM as int16/32768 and skips unknown chunks', () => {
    const w = decodeWav(wavBytes({ code: 1, channels: 1, rate: 22050, bits: 16, data: int16Bytes([0, 16384, -32768, 32767]), extraChunk: true }));
    expect(w).toMatchObject({ sampleRate: 22050, channels: 1, format: 'pcm16' });
    expect(Array.from(w.samples)).toEqual([0, 0.5, -1, 32767 / 32768]);
  });

  it('averages stereo to mono', () => {
    const w = decodeWav(wavBytes({ code: 1, channels: 2, rate: 8000, bits: 16, data: int16Bytes([16384, 0, -16384, -16384]) }));
    expect(w.channels).toBe(2);
    expect(Array.from(w.samples)).toEqual([0.25, -0.5]);
  });

  it('round-trips float32 exactly and 16-bit to within half a step, clipping out-of-range samples', async () => {
    const samples = Float32Array.from([0, 0.1, -0.7, 0.999, 1.5, -2]);
    const f = decodeWav(encodeWav({ sampleRate: 16000, samples }, 'float32'));
    expect(f.format).toBe('float32');
    expect(Array.from(f.samples)).toEqual(Array.from(samples));
    const path = join(mkdtempSync(join(tmpdir(), 'difflab-wav-')), 'x.wav');
    await writeWav(path, { sampleRate: 16000, samples });
    const p = readWav(path);
    expect(p).toMatchObject({ sampleRate: 16000, channels: 1, format: 'pcm16' });
    for (let i = 0; i < 4; i++) expect(Math.abs(p.samples[i]! - samples[i]!)).toBeLessThanOrEqual(0.5 / 32768);
    expect([p.samples[4], p.samples[5]]).toEqual([32767 / 32768, -1]);
  });

  it('rejects files that are not 16-bit PCM or float32 WAV, naming the problem', () => {
    expect(() => decodeWav(new TextEncoder().encode('ID3 not a wav at all'), 'song.mp3')).toThrow(/song\.mp3: not a RIFF\/WAVE/);
    expect(() => decodeWav(wavBytes({ code: 1, channels: 1, rate: 8000, bits: 24, data: new Uint8Array(6) }))).toThrow(/format code 1, 24 bits/);
    expect(() => decodeWav(wavBytes({ code: 6, channels: 1, rate: 8000, bits: 8, data: new Uint8Array(4) }))).toThrow(WavFormatError);
    const good = wavBytes({ code: 1, channels: 1, rate: 8000, bits: 16, data: int16Bytes([1, 2, 3, 4]) });
    expect(() => decodeWav(good.subarray(0, good.length - 3))).toThrow(/truncated/);
    const noData = good.subarray(0, 36);
    expect(() => decodeWav(noData)).toThrow(/no 'data' chunk/);
    expect(() => readWav(join(tmpdir(), 'difflab-no-such.wav'))).toThrow(MetricFileError);
    const dir = mkdtempSync(join(tmpdir(), 'difflab-wav-'));
    writeFileSync(join(dir, 'empty.wav'), '');
    expect(() => readWav(join(dir, 'empty.wav'))).toThrow(/empty\.wav: not a RIFF/);
  });
});
