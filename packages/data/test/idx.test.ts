import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FileFormatError, parseIdx, readIdxFile } from '../src/index.js';
import { idxBytes, tempDir } from './idx-fixtures.js';

describe('IDX reader', () => {
  it('reads dims big-endian and the data after the header', () => {
    // 00 00 08 02 | 00 00 00 02 | 00 00 01 00 (= 256): dims [2, 256]
    const bytes = new Uint8Array(4 + 8 + 512);
    bytes.set([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 1, 0]);
    bytes[12] = 7;
    bytes[12 + 511] = 9;
    const { dims, data } = parseIdx(bytes, 'x');
    expect(dims).toEqual([2, 256]);
    expect(data.length).toBe(512);
    expect(data[0]).toBe(7);
    expect(data[511]).toBe(9);
  });

  it('reads gzipped and plain files alike', () => {
    const dir = tempDir();
    const raw = idxBytes([3], [1, 2, 3]);
    writeFileSync(join(dir, 'a'), raw);
    writeFileSync(join(dir, 'a.gz'), gzipSync(raw));
    expect(Array.from(readIdxFile(join(dir, 'a')).data)).toEqual([1, 2, 3]);
    expect(Array.from(readIdxFile(join(dir, 'a.gz')).data)).toEqual([1, 2, 3]);
  });

  it('rejects a wrong magic number', () => {
    const bytes = idxBytes([2], [1, 2]);
    bytes[0] = 1;
    expect(() => parseIdx(bytes, 'f.idx')).toThrow(FileFormatError);
    expect(() => parseIdx(bytes, 'f.idx')).toThrow(/f\.idx: not an IDX file \(wrong magic/);
  });

  it('rejects element types other than ubyte', () => {
    const bytes = idxBytes([2], [1, 2]);
    bytes[2] = 0x0d; // float
    expect(() => parseIdx(bytes, 'f')).toThrow(/element type 0xd is unsupported/);
  });

  it('rejects truncated data and truncated headers', () => {
    const bytes = idxBytes([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(() => parseIdx(bytes.subarray(0, bytes.length - 1), 'f')).toThrow(/has 17 bytes but header \[2, 3\] needs 18/);
    expect(() => parseIdx(bytes.subarray(0, 9), 'f')).toThrow(/header truncated/);
  });

  it('rejects corrupt and truncated gzip with the file name', () => {
    const dir = tempDir();
    const gz = gzipSync(idxBytes([100], new Uint8Array(100)));
    writeFileSync(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 10));
    const flipped = Uint8Array.from(gz);
    flipped[15] = flipped[15]! ^ 0xff;
    writeFileSync(join(dir, 'bad.gz'), flipped);
    expect(() => readIdxFile(join(dir, 'cut.gz'))).toThrow(/cut\.gz: corrupt or truncated gzip/);
    expect(() => readIdxFile(join(dir, 'bad.gz'))).toThrow(FileFormatError);
  });
});
