import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError, parseNpy, parseNpz, readNpy, readNpz } from '../src/index.js';
import { tempDir } from './idx-fixtures.js';

// Files written by NumPy 1.24 (test/fixtures/make_npy_fixtures.py); expected values are the script's inputs.
const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

/** An .npy file built by hand from the format spec: magic, version, little-endian header length, header, data. */
function npyBytes(header: string, data: Uint8Array, major = 1): Uint8Array {
  const lenBytes = major === 1 ? 2 : 4;
  const pre = 8 + lenBytes;
  const padded = header.padEnd(Math.ceil((pre + header.length + 1) / 64) * 64 - pre - 1, ' ') + '\n';
  const out = new Uint8Array(pre + padded.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), pre);
  out.set(data, pre + padded.length);
  return out;
}

describe('NPY reader on NumPy-written files', () => {
  it('reads float32 [2, 3]', () => {
    const a = readNpy(fixture('f4_2x3.npy'));
    expect(a.dtype).toBe('<f4');
    expect(a.shape).toEqual([2, 3]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data as Float32Array)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
  });

  it('reads float64, int64, a uint8 scalar and bool', () => {
    expect(Array.from(readNpy(fixture('f8_3.npy')).data as Float64Array)).toEqual([1.5, -2, 1e300]);
    const i8 = readNpy(fixture('i8_2x2.npy'));
    expect(i8.shape).toEqual([2, 2]);
    expect(Array.from(i8.data as BigInt64Array)).toEqual([1n, -2n, 2n ** 40n, 3n]);
    const scalar = readNpy(fixture('u1_scalar.npy'));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data as Uint8Array)).toEqual([7]);
    const b = readNpy(fixture('bool_3.npy'));
    expect(b.dtype).toBe('|b1');
    expect(Array.from(b.data as Uint8Array)).toEqual([1, 0, 1]);
  });

  it('rejects Fortran order and big-endian data with the fix', () => {
    expect(() => readNpy(fixture('fortran_2x3.npy'))).toThrow(/Fortran-order.*np\.ascontiguousarray/);
    expect(() => readNpy(fixture('big_endian_f4.npy'))).toThrow(/dtype '>f4' is unsupported.*astype\('<f4'\)/);
  });
});

describe('NPY reader on hand-built bytes', () => {
  const floats = new Uint8Array(new Float32Array([1.5, -2]).buffer);

  it('reads format 1.0 and 2.0 headers', () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    for (const major of [1, 2]) {
      const a = parseNpy(npyBytes(header, floats, major));
      expect(a.shape).toEqual([2]);
      expect(Array.from(a.data as Float32Array)).toEqual([1.5, -2]);
    }
  });

  it('rejects bad magic, truncated data and missing header keys', () => {
    const good = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", floats);
    const badMagic = Uint8Array.from(good);
    badMagic[1] = 0x41;
    expect(() => parseNpy(badMagic, 'x.npy')).toThrow(/x\.npy: not a NumPy \.npy file/);
    expect(() => parseNpy(good.subarray(0, good.length - 1), 'x.npy')).toThrow(/has 7 bytes but shape \[2\] of <f4 needs 8/);
    expect(() => parseNpy(npyBytes("{'descr': '<f4', 'shape': (2,), }", floats))).toThrow(/lacks descr, fortran_order or shape/);
    expect(() => parseNpy(npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", floats))).toThrow(FileFormatError);
  });
});

describe('NPZ reader', () => {
  it('reads np.savez (stored) and np.savez_compressed (deflated)', () => {
    for (const name of ['stored.npz', 'deflated.npz']) {
      const arrays = readNpz(fixture(name));
      expect([...arrays.keys()].sort()).toEqual(['a', 'b']);
      expect(Array.from(arrays.get('a')!.data as Float32Array)).toEqual([0, 1, 2, 3]);
      expect(arrays.get('b')!.shape).toEqual([2, 2]);
      expect(Array.from(arrays.get('b')!.data as Int32Array)).toEqual([1, 2, 3, 4]);
    }
  });

  it('rejects truncated and corrupt archives', () => {
    const bytes = readFileSync(fixture('deflated.npz'));
    expect(() => parseNpz(bytes.subarray(0, 100), 'cut.npz')).toThrow(/cut\.npz: not a zip\/\.npz file/);
    const dir = tempDir();
    const corrupt = Uint8Array.from(bytes);
    corrupt.fill(0xab, 40, 80); // inside member a's deflate stream
    writeFileSync(join(dir, 'bad.npz'), corrupt);
    expect(() => readNpz(join(dir, 'bad.npz'))).toThrow(FileFormatError);
  });
});
