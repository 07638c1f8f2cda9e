import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  entriesToTensors,
  entryValues,
  expectNoTensorLeaks,
  initBackend,
  readSafetensors,
  SafetensorsError,
  tensorToEntry,
  writeSafetensors,
  type SafetensorsEntry,
} from '../src/index.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: () => {} });
});

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const u64le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff, 0, 0, 0, 0];

/** A file assembled by hand from the spec: u64 LE header length, JSON header, data buffer. */
function handBuilt(header: string, data: number[]): Uint8Array {
  return new Uint8Array([...u64le(header.length), ...ascii(header), ...data]);
}

function entry(dtype: SafetensorsEntry['dtype'], shape: number[], bytes: number[]): SafetensorsEntry {
  return { dtype, shape, data: new Uint8Array(bytes) };
}

describe('safetensors layout', () => {
  it('encodes byte-for-byte as the spec lays it out (header space-padded to 8 bytes)', () => {
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}';
    const header = json + ' '.repeat((8 - (json.length % 8)) % 8);
    // 1.0f = 0x3f800000, -2.0f = 0xc0000000 (little-endian), then int64 -1.
    const data = [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    const want = handBuilt(header, data);
    const got = encodeSafetensors(
      { a: entry('F32', [2], data.slice(0, 8)), b: entry('I64', [1], data.slice(8)) },
      { format: 'pt' },
    );
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it('decodes a hand-built file with unpadded header, tensors listed out of buffer order, and an empty tensor', () => {
    const header = '{"w":{"dtype":"F16","shape":[2],"data_offsets":[2,6]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]},"flag":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}';
    // F16 1.0 = 0x3c00, -0.5 = 0xb800.
    const { tensors, metadata } = decodeSafetensors(handBuilt(header, [1, 0, 0x00, 0x3c, 0x00, 0xb8]));
    expect(metadata).toEqual({});
    expect(Object.keys(tensors)).toEqual(['w', 'e', 'flag']);
    expect(Array.from(entryValues(tensors['w']!) as Float32Array)).toEqual([1, -0.5]);
    expect(tensors['e']!.shape).toEqual([0, 3]);
    expect(Array.from(entryValues(tensors['flag']!) as Uint8Array)).toEqual([1, 0]);
  });
});

describe('safetensors dtypes', () => {
  const f32 = [0, 1, -2.5, 3.1415927410125732, 65504, 1e-7, -Infinity, 1e30];
  it.each([
    ['F32', f32, f32],
    ['F64', f32, f32],
    // F16 rounds to 11 significant bits, overflows 1e30 to Infinity and 1e-7 to the subnormal 2 * 2^-24.
    ['F16', f32, [0, 1, -2.5, 3.140625, 65504, 2 * 2 ** -24, -Infinity, Infinity]],
    // BF16 keeps 8 significant bits: pi → 3.140625, 65504 → 65536; float32 1e-7 = 0x33d6bf95 rounds up
    // to 0x33d7 = 215·2^-31, float32 1e30 = 0x7149f2ca rounds up to 0x714a = 202·2^92.
    ['BF16', f32, [0, 1, -2.5, 3.140625, 65536, 215 * 2 ** -31, -Infinity, 202 * 2 ** 92]],
  ] as const)('float32 tensors round-trip through %s', async (dtype, input, expected) => {
    await expectNoTensorLeaks(() => {
      const t = tf.tensor1d(input as unknown as number[]);
      const e = tensorToEntry(t, dtype);
      expect(e.data.byteLength).toBe(input.length * { F32: 4, F64: 8, F16: 2, BF16: 2 }[dtype]);
      const back = entriesToTensors(decodeSafetensors(encodeSafetensors({ x: e })).tensors)['x']!;
      expect(back.dtype).toBe('float32');
      expect(Array.from(back.dataSync())).toEqual(expected.map((v) => Math.fround(v)));
      tf.dispose([t, back]);
    });
  });

  it('NaN survives F16 and BF16', () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const t = tf.tensor1d([NaN]);
      const back = entriesToTensors({ x: tensorToEntry(t, dtype) })['x']!;
      expect(back.dataSync()[0]).toBeNaN();
      tf.dispose([t, back]);
    }
  });

  it('int32 round-trips through I32 and I64 (sign-extended, little-endian)', () => {
    const t = tf.tensor1d([0, -1, 2147483647, -2147483648], 'int32');
    const e64 = tensorToEntry(t, 'I64');
    expect(Array.from(e64.data.subarray(8, 16))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    for (const e of [tensorToEntry(t), e64]) {
      const back = entriesToTensors(decodeSafetensors(encodeSafetensors({ t: e })).tensors)['t']!;
      expect(back.dtype).toBe('int32');
      expect(Array.from(back.dataSync())).toEqual([0, -1, 2147483647, -2147483648]);
      back.dispose();
    }
    t.dispose();
  });

  it('reads I64 beyond int32 as raw values but refuses to make an int32 tensor of them', () => {
    const e = entry('I64', [1], [0, 0, 0, 0, 1, 0, 0, 0]); // 2^32
    expect(entryValues(e)).toEqual(new BigInt64Array([4294967296n]));
    expect(() => entriesToTensors({ big: e })).toThrow(/I64 value 4294967296 at index 0 does not fit tfjs int32/);
  });

  it('U8, I8, I16 become int32 tensors; BOOL becomes bool', () => {
    const got = entriesToTensors({
      u8: entry('U8', [3], [0, 7, 255]),
      i8: entry('I8', [2], [0xff, 0x80]),
      i16: entry('I16', [1], [0x00, 0x80]),
      b: entry('BOOL', [3], [1, 0, 1]),
    });
    expect(Array.from(got['u8']!.dataSync())).toEqual([0, 7, 255]);
    expect(Array.from(got['i8']!.dataSync())).toEqual([-1, -128]);
    expect(Array.from(got['i16']!.dataSync())).toEqual([-32768]);
    expect(got['b']!.dtype).toBe('bool');
    expect(Array.from(got['b']!.dataSync())).toEqual([1, 0, 1]);
    const again = tensorToEntry(got['b']!);
    expect(again).toEqual(entry('BOOL', [3], [1, 0, 1]));
    tf.dispose(Object.values(got));
  });

  it('refuses to store a tf dtype as an incompatible dtype', () => {
    const t = tf.tensor1d([1, 2], 'int32');
    expect(() => tensorToEntry(t, 'F16', 'ids')).toThrow(/ids: cannot store tf int32 as F16; allowed: I32, I64/);
    t.dispose();
  });
});

describe('safetensors validation', () => {
  const good = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  const bad = (bytes: Uint8Array) => () => decodeSafetensors(bytes, 'model.safetensors');

  it('names the file and the problem', () => {
    expect(bad(new Uint8Array(5))).toThrow(SafetensorsError);
    expect(bad(new Uint8Array(5))).toThrow(/^model\.safetensors: truncated: 5 bytes/);
    expect(bad(new Uint8Array([...u64le(1000), ...ascii(good)]))).toThrow(/header length 1000 runs past the end of the file/);
    expect(bad(handBuilt('{"a":', []))).toThrow(/header is not valid UTF-8 JSON/);
    expect(bad(handBuilt('[1,2]', []))).toThrow(/header must be a JSON object/);
    expect(bad(handBuilt(good, [0, 0]))).toThrow(/'a' data_offsets \[0, 4\] are out of bounds: the data buffer has 2 bytes/);
    expect(bad(handBuilt(good, [0, 0, 0, 0, 9]))).toThrow(/data buffer has 5 bytes but tensors cover only 4/);
    expect(bad(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]))).toThrow(/'a' \(F32, shape \[2\]\) needs 8 bytes but has 4/);
    expect(bad(handBuilt('{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}', new Array(8).fill(0)))).toThrow(/unsupported dtype 'C64'/);
    expect(bad(handBuilt('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', [0, 0, 0, 0]))).toThrow(/invalid shape \[-1\]/);
    expect(bad(handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', [0, 0, 0, 0]))).toThrow(/invalid data_offsets \[4,0\]/);
    expect(bad(handBuilt('{"__metadata__":{"n":1}}', []))).toThrow(/'__metadata__.n' must be a string/);
  });

  it('rejects overlapping tensors and holes', () => {
    const overlap = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I16","shape":[2],"data_offsets":[2,6]}}';
    expect(bad(handBuilt(overlap, new Array(6).fill(0)))).toThrow(/'b' data_offsets \[2, 6\] overlap the previous tensor/);
    const hole = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}';
    expect(bad(handBuilt(hole, [0, 0, 0]))).toThrow(/hole: bytes \[1, 2\) belong to no tensor/);
  });

  it('refuses to write inconsistent entries or a reserved name', () => {
    expect(() => encodeSafetensors({ a: entry('F32', [2], [0, 0, 0, 0]) })).toThrow(/'a' \(F32, shape \[2\]\) needs 8 bytes but has 4/);
    expect(() => encodeSafetensors({ __metadata__: entry('U8', [0], []) })).toThrow(/reserved/);
  });
});

describe('safetensors files', () => {
  it('writes atomically, reads back tensors and metadata, leaves no temp files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'st-'));
    const file = path.join(dir, 'sub', 'ckpt.safetensors');
    await expectNoTensorLeaks(async () => {
      const w = tf.tensor2d([[1, 2], [3, 4]]);
      const ids = tf.tensor1d([5, 6], 'int32');
      await writeSafetensors(file, { w, ids }, { step: '10' });
      const { tensors, metadata } = await readSafetensors(file);
      expect(metadata).toEqual({ step: '10' });
      const back = entriesToTensors(tensors);
      expect(back['w']!.shape).toEqual([2, 2]);
      expect(Array.from(back['w']!.dataSync())).toEqual([1, 2, 3, 4]);
      expect(Array.from(back['ids']!.dataSync())).toEqual([5, 6]);
      tf.dispose([w, ids, ...Object.values(back)]);
    });
    expect(await readdir(path.dirname(file))).toEqual(['ckpt.safetensors']);
  });

  it('a truncated file on disk is reported with its path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'st-'));
    const file = path.join(dir, 'x.safetensors');
    const t = tf.tensor1d([1, 2, 3]);
    await writeSafetensors(file, { t });
    t.dispose();
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 3));
    await expect(readSafetensors(file)).rejects.toThrow(`${file}: tensor 't' data_offsets [0, 12] are out of bounds`);
    await expect(readSafetensors(path.join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: cannot read/);
  });
});
