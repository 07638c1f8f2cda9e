import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half.js';
import { writeFileAtomic } from './write-file-atomic.js';

// Format (https://github.com/huggingface/safetensors): 8-byte little-endian u64 header length N,
// N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}},
// then the data buffer; offsets are relative to the buffer, which tensors must cover without holes or overlaps.

/** Element size in bytes of every dtype this module reads and writes. */
export const SAFETENSORS_DTYPES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** One tensor as stored: little-endian, row-major bytes. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

export interface SafetensorsContents {
  tensors: Record<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
  }
}

// The reference implementation refuses larger headers; so do we, before allocating anything.
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const METADATA_KEY = '__metadata__';

function isDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && Object.hasOwn(SAFETENSORS_DTYPES, d);
}

function byteSize(dtype: SafetensorsDtype, shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1) * SAFETENSORS_DTYPES[dtype];
}

function checkEntry(source: string, name: string, e: SafetensorsEntry): void {
  if (!isDtype(e.dtype)) throw new SafetensorsError(source, `tensor '${name}' has unsupported dtype '${String(e.dtype)}'; supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(source, `tensor '${name}' has invalid shape ${JSON.stringify(e.shape)}; expected non-negative integers`);
  }
  const want = byteSize(e.dtype, e.shape);
  if (e.data.byteLength !== want) {
    throw new SafetensorsError(source, `tensor '${name}' (${e.dtype}, shape [${e.shape.join(', ')}]) needs ${want} bytes but has ${e.data.byteLength}`);
  }
}

/**
 * Serialises entries in the given order. The header is padded with spaces to a multiple of 8 bytes
 * (as the reference writer does) so that the data buffer starts 8-byte aligned.
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsEntry>, metadata?: Record<string, string>, source = 'safetensors'): Uint8Array {
  if (Object.hasOwn(tensors, METADATA_KEY)) throw new SafetensorsError(source, `'${METADATA_KEY}' is reserved and cannot name a tensor`);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(source, `metadata value for '${k}' must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const [name, e] of Object.entries(tensors)) {
    checkEntry(source, name, e);
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.byteLength] };
    offset += e.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const e of Object.values(tensors)) {
    out.set(e.data, at);
    at += e.data.byteLength;
  }
  return out;
}

/** Parses and validates a safetensors buffer; `source` (e.g. the file path) prefixes every error. Entry data are views into `bytes`. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors buffer'): SafetensorsContents {
  if (bytes.byteLength < 8) throw new SafetensorsError(source, `truncated: ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(source, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLen);
  if (8 + n > bytes.byteLength) throw new SafetensorsError(source, `header length ${n} runs past the end of the file (${bytes.byteLength} bytes): the file is truncated or not safetensors`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(source, `header is not valid UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(source, 'header must be a JSON object');
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(source, `'${METADATA_KEY}' must be an object of strings`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(source, `'${METADATA_KEY}.${k}' must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) throw new SafetensorsError(source, `tensor '${name}' must be an object with dtype, shape, data_offsets`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw new SafetensorsError(source, `tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}; expected [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offs as [number, number];
    if (end > data.byteLength) {
      throw new SafetensorsError(source, `tensor '${name}' data_offsets [${begin}, ${end}] are out of bounds: the data buffer has ${data.byteLength} bytes (truncated file?)`);
    }
    const entry = { dtype: info.dtype, shape: info.shape, data: data.subarray(begin, end) } as SafetensorsEntry;
    checkEntry(source, name, entry);
    tensors[name] = entry;
    spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin < covered) throw new SafetensorsError(source, `tensor '${s.name}' data_offsets [${s.begin}, ${s.end}] overlap the previous tensor (which ends at ${covered})`);
    if (s.begin > covered) throw new SafetensorsError(source, `data buffer has a hole: bytes [${covered}, ${s.begin}) belong to no tensor (before '${s.name}')`);
    covered = s.end;
  }
  if (covered !== data.byteLength) {
    throw new SafetensorsError(source, `data buffer has ${data.byteLength} bytes but tensors cover only ${covered}: trailing bytes belong to no tensor`);
  }
  return { tensors, metadata };
}

// ---- tf.Tensor <-> entries -------------------------------------------------

function copyBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

/** Tensor values as stored; float dtypes become exact float32/float64 values, integers their exact values. */
export function entryValues(e: SafetensorsEntry): Float64Array | Float32Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array {
  const buf = new Uint8Array(e.data).buffer; // an aligned copy (Buffer#slice would not copy)
  switch (e.dtype) {
    case 'F64':
      return new Float64Array(buf);
    case 'F32':
      return new Float32Array(buf);
    case 'F16':
      return Float32Array.from(new Uint16Array(buf), float16BitsToFloat32);
    case 'BF16':
      return Float32Array.from(new Uint16Array(buf), bfloat16BitsToFloat32);
    case 'I64':
      return new BigInt64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'I16':
      return new Int16Array(buf);
    case 'I8':
      return new Int8Array(buf);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf);
  }
}

/**
 * A tf.Tensor holding the entry: floats → float32 (F64 rounded), integers → int32 (I64 must fit), BOOL → bool.
 * The caller owns the result.
 */
export function entryToTensor(e: SafetensorsEntry, name = 'tensor'): tf.Tensor {
  const v = entryValues(e);
  if (e.dtype === 'BOOL') return tf.tensor(v as Uint8Array, e.shape, 'bool');
  if (v instanceof BigInt64Array) {
    const out = new Int32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x > 2147483647n || x < -2147483648n) throw new SafetensorsError(name, `I64 value ${x} at index ${i} does not fit tfjs int32`);
      out[i] = Number(x);
    }
    return tf.tensor(out, e.shape, 'int32');
  }
  if (v instanceof Float64Array || v instanceof Float32Array) return tf.tensor(Float32Array.from(v), e.shape, 'float32');
  return tf.tensor(Int32Array.from(v), e.shape, 'int32');
}

/** Default stored dtype per tf dtype; float32 may instead be stored as F16, BF16 or F64, int32 as I64. */
const DEFAULT_DTYPE: Partial<Record<tf.DataType, SafetensorsDtype>> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };

export function tensorToEntry(t: tf.Tensor, dtype?: SafetensorsDtype, name = 'tensor'): SafetensorsEntry {
  const target = dtype ?? DEFAULT_DTYPE[t.dtype];
  if (!target) throw new SafetensorsError(name, `tf dtype '${t.dtype}' cannot be stored; use float32, int32 or bool`);
  const shape = [...t.shape];
  const values = t.dataSync();
  const allowed: Record<string, SafetensorsDtype[]> = { float32: ['F32', 'F16', 'BF16', 'F64'], int32: ['I32', 'I64'], bool: ['BOOL'] };
  if (!allowed[t.dtype]?.includes(target)) {
    throw new SafetensorsError(name, `cannot store tf ${t.dtype} as ${target}; allowed: ${(allowed[t.dtype] ?? []).join(', ')}`);
  }
  switch (target) {
    case 'F32':
      return { dtype: target, shape, data: copyBytes(values as Float32Array) };
    case 'F64':
      return { dtype: target, shape, data: copyBytes(Float64Array.from(values as Float32Array)) };
    case 'F16':
      return { dtype: target, shape, data: copyBytes(Uint16Array.from(values as Float32Array, float32ToFloat16Bits)) };
    case 'BF16':
      return { dtype: target, shape, data: copyBytes(Uint16Array.from(values as Float32Array, float32ToBfloat16Bits)) };
    case 'I32':
      return { dtype: target, shape, data: copyBytes(values as Int32Array) };
    case 'I64':
      return { dtype: target, shape, data: copyBytes(BigInt64Array.from(values as Int32Array, (x) => BigInt(x))) };
    default:
      return { dtype: 'BOOL', shape, data: copyBytes(Uint8Array.from(values as Uint8Array, (x) => (x ? 1 : 0))) };
  }
}

export type SafetensorsInput = tf.Tensor | SafetensorsEntry;

function isTensor(x: SafetensorsInput): x is tf.Tensor {
  return x instanceof tf.Tensor;
}

/** Converts tf.Tensors to entries (optionally storing float32 as `floatDtype`), passing entries through. */
export function tensorsToEntries(tensors: Record<string, SafetensorsInput>, floatDtype?: 'F32' | 'F16' | 'BF16' | 'F64'): Record<string, SafetensorsEntry> {
  const out: Record<string, SafetensorsEntry> = {};
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = isTensor(t) ? tensorToEntry(t, t.dtype === 'float32' ? floatDtype : undefined, name) : t;
  }
  return out;
}

/** tf.Tensors for every entry; the caller owns them. */
export function entriesToTensors(entries: Record<string, SafetensorsEntry>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, e] of Object.entries(entries)) out[name] = entryToTensor(e, name);
  } catch (err) {
    tf.dispose(Object.values(out));
    throw err;
  }
  return out;
}

/** Writes tensors (tf.Tensors and/or raw entries) to `file` atomically (temp file + rename). */
export async function writeSafetensors(
  file: string,
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
  opts: { floatDtype?: 'F32' | 'F16' | 'BF16' | 'F64' } = {},
): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensorsToEntries(tensors, opts.floatDtype), metadata, file));
}

/** Reads and validates a safetensors file; errors name the file and the problem. */
export async function readSafetensors(file: string): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    const buf = await readFile(file);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new SafetensorsError(file, `cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return decodeSafetensors(bytes, file);
}
