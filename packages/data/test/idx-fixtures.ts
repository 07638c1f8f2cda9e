import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** IDX bytes written by hand from the format description (big-endian dims after 00 00 08 rank). */
export function idxBytes(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 0x08, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

export function tempDir(prefix = 'difflab-data-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A tiny Fashion-MNIST-shaped directory: image k of a split has every pixel equal to k+1
 * and label k % 10.
 */
export function writeTinyFashionMnist(dir: string, sizes = { train: 5, test: 3 }, h = 28, w = 28): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, n] of [['train', sizes.train], ['t10k', sizes.test]] as const) {
    const images = new Uint8Array(n * h * w);
    for (let k = 0; k < n; k++) images.fill(k + 1, k * h * w, (k + 1) * h * w);
    const labels = Uint8Array.from({ length: n }, (_, k) => k % 10);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idxBytes([n, h, w], images)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idxBytes([n], labels)));
  }
}
