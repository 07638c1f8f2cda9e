import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ChecksumMismatchError,
  DatasetNotFoundError,
  FileFormatError,
  fashionMnistInfo,
  loadFashionMnist,
  resolveFashionMnist,
} from '../src/index.js';
import { idxBytes, tempDir, writeTinyFashionMnist } from './idx-fixtures.js';

/** Options that keep the resolver away from this machine's Debian copy, cache and network. */
function isolated(extra: { env?: Record<string, string>; systemDir?: string; cacheDir?: string } = {}) {
  const root = tempDir();
  return {
    env: extra.env ?? {},
    systemDir: extra.systemDir ?? join(root, 'system'),
    cacheDir: extra.cacheDir ?? join(root, 'cache'),
    download: false,
  };
}

describe('Fashion-MNIST sources', () => {
  it('takes DIFFLAB_DATA_DIR/fashion-mnist first, even over a complete Debian copy', () => {
    const data = tempDir();
    const system = tempDir();
    writeTinyFashionMnist(system);
    const opts = isolated({ env: { DIFFLAB_DATA_DIR: data }, systemDir: system });
    expect(resolveFashionMnist(opts)).toEqual({ kind: 'env', dir: join(data, 'fashion-mnist') });
  });

  it('fails loudly when DIFFLAB_DATA_DIR lacks the files instead of falling back', () => {
    const data = tempDir();
    const system = tempDir();
    writeTinyFashionMnist(system);
    const opts = { ...isolated({ env: { DIFFLAB_DATA_DIR: data }, systemDir: system }), verify: false };
    expect(() => loadFashionMnist(opts)).toThrow(DatasetNotFoundError);
    expect(() => loadFashionMnist(opts)).toThrow(/is missing train-images-idx3-ubyte\[\.gz\].*unset DIFFLAB_DATA_DIR/);
  });

  it('uses the Debian directory when complete, else the cache, else says how to get the data', () => {
    const system = tempDir();
    const cache = tempDir();
    writeTinyFashionMnist(cache);
    expect(resolveFashionMnist(isolated({ systemDir: system, cacheDir: cache }))).toEqual({ kind: 'cache', dir: cache });
    writeTinyFashionMnist(system);
    expect(resolveFashionMnist(isolated({ systemDir: system, cacheDir: cache }))).toEqual({ kind: 'debian', dir: system });
    expect(() => resolveFashionMnist(isolated())).toThrow(/apt-get install dataset-fashion-mnist.*DIFFLAB_DATA_DIR/);
  });

  it('accepts plain (not gzipped) IDX files', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([3], [0, 1, 2]));
    rmSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
    expect(Array.from(loadFashionMnist({ ...isolated(), dir, verify: false }).test.labels)).toEqual([0, 1, 2]);
  });
});

describe('loadFashionMnist', () => {
  it('parses images and labels of both splits', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir, { train: 5, test: 3 });
    const ds = loadFashionMnist({ ...isolated(), dir, verify: false });
    expect(ds.source).toEqual({ kind: 'explicit', dir });
    expect([ds.train.count, ds.train.height, ds.train.width, ds.test.count]).toEqual([5, 28, 28, 3]);
    expect(ds.train.images[4 * 784 + 783]).toBe(5);
    expect(ds.test.images[0]).toBe(1);
    expect(Array.from(ds.train.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(ds.classNames[9]).toBe('Ankle boot');
  });

  it('rejects files whose checksum does not match the manifest', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir);
    expect(() => loadFashionMnist({ ...isolated(), dir })).toThrow(ChecksumMismatchError);
    expect(() => loadFashionMnist({ ...isolated(), dir })).toThrow(/train-images-idx3-ubyte\.gz: SHA-256 .* expected c59f468a/);
  });

  it('rejects mismatched image/label counts and out-of-range labels', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([4], [0, 1, 2, 3])));
    expect(() => loadFashionMnist({ ...isolated(), dir, verify: false })).toThrow(/train: 5 images but 4 labels/);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([5], [0, 1, 12, 3, 4])));
    expect(() => loadFashionMnist({ ...isolated(), dir, verify: false })).toThrow(/label 12 at index 2 is outside 0\.\.9/);
  });

  it('reports wrong magic and bad gzip as FileFormatError', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir);
    const bad = idxBytes([3, 28, 28], new Uint8Array(3 * 784));
    bad[1] = 5;
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(bad));
    expect(() => loadFashionMnist({ ...isolated(), dir, verify: false })).toThrow(FileFormatError);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    expect(() => loadFashionMnist({ ...isolated(), dir, verify: false })).toThrow(/t10k-images-idx3-ubyte\.gz: corrupt or truncated gzip/);
  });
});

describe('fashionMnistInfo', () => {
  it('reports missing, mismatched and corrupt files with counts', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir, { train: 5, test: 3 });
    rmSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), Uint8Array.from([0x1f, 0x8b, 8, 0, 9]));
    const info = fashionMnistInfo({ ...isolated(), dir });
    const byName = Object.fromEntries(info.files.map((f) => [f.name, f]));
    expect(byName['train-images-idx3-ubyte']!.status).toBe('mismatch');
    expect(byName['train-images-idx3-ubyte']!.count).toBe(5);
    expect(byName['train-labels-idx1-ubyte']!.status).toBe('corrupt');
    expect(byName['train-labels-idx1-ubyte']!.error).toMatch(/corrupt or truncated gzip/);
    expect(byName['t10k-labels-idx1-ubyte']!.status).toBe('missing');
    expect(info.splits).toEqual({ train: 5, test: 3 });
  });

  it('reports a file it cannot read (a directory in its place) as corrupt, naming it, instead of throwing', () => {
    const dir = tempDir();
    writeTinyFashionMnist(dir, { train: 5, test: 3 });
    rmSync(join(dir, 't10k-images-idx3-ubyte.gz'));
    mkdirSync(join(dir, 't10k-images-idx3-ubyte.gz'));
    const info = fashionMnistInfo({ ...isolated(), dir });
    const bad = info.files.find((f) => f.name === 't10k-images-idx3-ubyte')!;
    expect(bad.status).toBe('corrupt');
    expect(bad.error).toContain(`${join(dir, 't10k-images-idx3-ubyte.gz')}: cannot read (EISDIR`);
  });
});

const debianDir = '/usr/share/datasets/fashion-mnist';

// The real data is the Debian package dataset-fashion-mnist, which tools/setup.sh installs.
describe('the Debian copy of Fashion-MNIST', () => {
  it('verifies and has the published split sizes and class balance', () => {
    const ds = loadFashionMnist({ dir: debianDir });
    expect([ds.train.count, ds.test.count]).toEqual([60000, 10000]);
    // Upstream documents 6000 training and 1000 test images per class.
    const hist = (labels: Uint8Array) => labels.reduce((h, l) => (h[l]!++, h), new Array<number>(10).fill(0));
    expect(hist(ds.train.labels)).toEqual(new Array(10).fill(6000));
    expect(hist(ds.test.labels)).toEqual(new Array(10).fill(1000));
    // First labels read with `zcat | xxd`: train 9 0 0 3, test 9 2 1 1.
    expect(Array.from(ds.train.labels.subarray(0, 4))).toEqual([9, 0, 0, 3]);
    expect(Array.from(ds.test.labels.subarray(0, 4))).toEqual([9, 2, 1, 1]);
  });

  it('reports every file ok', () => {
    const info = fashionMnistInfo({ dir: debianDir });
    expect(info.files.map((f) => f.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });
});
