import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '@difflab/core-tensor';
import { MetricFileError, MetricInputError } from '../errors.js';
import { firstNonFinite } from '../validate.js';

/** Mono audio in float samples (nominally in [−1, 1]) at a sample rate. */
export interface Audio {
  sampleRate: number;
  samples: Float32Array;
}

export type WavSampleFormat = 'pcm16' | 'float32';

/** What a WAV file held before it was mixed down to mono. */
export interface DecodedWav extends Audio {
  channels: number;
  format: WavSampleFormat;
}

/** A WAV file that is not RIFF/WAVE, is truncated, or stores samples in an unsupported format. */
export class WavFormatError extends MetricFileError {
  override name = 'WavFormatError';
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Decodes PCM 16-bit or IEEE float32 WAV bytes; several channels are averaged to mono (what
 * VGGish's `waveform_to_examples` does). 16-bit samples are divided by 32768, as the reference does.
 */
export function decodeWav(bytes: Uint8Array, source = 'wav data'): DecodedWav {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw new WavFormatError(`${source}: not a RIFF/WAVE file (expected 'RIFF....WAVE' header); convert it to WAV, e.g. with sox`);
  }
  let fmt: { code: number; channels: number; sampleRate: number; bits: number } | undefined;
  let data: Uint8Array | undefined;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (body + size > bytes.length) throw new WavFormatError(`${source}: chunk '${id}' claims ${size} bytes but only ${bytes.length - body} remain (truncated file?)`);
    if (id === 'fmt ') {
      if (size < 16) throw new WavFormatError(`${source}: 'fmt ' chunk is ${size} bytes, expected at least 16`);
      let code = view.getUint16(body, true);
      if (code === FORMAT_EXTENSIBLE && size >= 26) code = view.getUint16(body + 24, true); // first two bytes of the subformat GUID
      fmt = { code, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      data = bytes.subarray(body, body + size);
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  if (!fmt) throw new WavFormatError(`${source}: no 'fmt ' chunk`);
  if (!data) throw new WavFormatError(`${source}: no 'data' chunk`);
  const { code, channels, sampleRate, bits } = fmt;
  let format: WavSampleFormat;
  if (code === FORMAT_PCM && bits === 16) format = 'pcm16';
  else if (code === FORMAT_FLOAT && bits === 32) format = 'float32';
  else throw new WavFormatError(`${source}: unsupported sample format (format code ${code}, ${bits} bits); use 16-bit PCM or 32-bit float, e.g. 'sox in.wav -b 16 out.wav'`);
  if (channels < 1) throw new WavFormatError(`${source}: ${channels} channels`);
  if (!(sampleRate > 0)) throw new WavFormatError(`${source}: sample rate ${sampleRate}`);
  const width = bits / 8;
  const frames = Math.floor(data.length / (width * channels));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) {
      const at = (i * channels + c) * width;
      acc += format === 'pcm16' ? dv.getInt16(at, true) / 32768 : dv.getFloat32(at, true);
    }
    samples[i] = acc / channels;
  }
  // Only float32 can hold NaN/Inf; one would turn every embedding of the clip, and the FAD, into NaN.
  const bad = format === 'float32' ? firstNonFinite(samples) : -1;
  if (bad >= 0) throw new WavFormatError(`${source}: sample ${bad} (${(bad / sampleRate).toFixed(3)} s) is ${samples[bad]}; audio must be finite — fix or drop this clip`);
  return { sampleRate, samples, channels, format };
}

export function readWav(path: string): DecodedWav {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MetricFileError(`${path}: cannot read (${e instanceof Error ? e.message : String(e)})`);
  }
  return decodeWav(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Mono WAV bytes; 16-bit samples are x·32768 rounded and clipped to the int16 range. */
export function encodeWav(audio: Audio, format: WavSampleFormat = 'pcm16'): Uint8Array {
  const { sampleRate, samples } = audio;
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new MetricInputError(`encodeWav: sample rate must be a positive integer, got ${sampleRate}`);
  const width = format === 'pcm16' ? 2 : 4;
  const dataBytes = samples.length * width;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const put = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, format === 'pcm16' ? FORMAT_PCM : FORMAT_FLOAT, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * width, true);
  view.setUint16(32, width, true);
  view.setUint16(34, width * 8, true);
  put(36, 'data');
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i]!;
    if (format === 'pcm16') view.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(x * 32768))), true);
    else view.setFloat32(44 + 4 * i, x, true);
  }
  return out;
}

export async function writeWav(path: string, audio: Audio, format: WavSampleFormat = 'pcm16'): Promise<void> {
  await writeFileAtomic(path, encodeWav(audio, format));
}
