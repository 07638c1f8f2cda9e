import { PNG } from 'pngjs';
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ImageBatch {
  /** NHWC values in [-1, 1] (values outside are clipped). */
  data: Float32Array;
  n: number;
  height: number;
  width: number;
  channels: 1 | 3;
}

/**
 * Lays images out row-major in a grid (`columns` per row) with a 2-px separator and encodes it
 * as PNG. Rows of the trainer's grid are classes, so a glance shows whether conditioning works.
 */
export function encodeImageGrid(batch: ImageBatch, columns: number, scale = 2): Buffer {
  const { data, n, height: h, width: w, channels: c } = batch;
  if (data.length !== n * h * w * c) {
    throw new RangeError(`image grid: data has ${data.length} values, expected ${n}×${h}×${w}×${c}`);
  }
  const rows = Math.ceil(n / columns);
  const pad = 2;
  const cellW = w * scale + pad;
  const cellH = h * scale + pad;
  const png = new PNG({ width: columns * cellW + pad, height: rows * cellH + pad });
  png.data.fill(255);
  for (let i = 0; i < n; i++) {
    const x0 = pad + (i % columns) * cellW;
    const y0 = pad + Math.floor(i / columns) * cellH;
    for (let y = 0; y < h * scale; y++) {
      for (let x = 0; x < w * scale; x++) {
        const src = ((i * h + Math.floor(y / scale)) * w + Math.floor(x / scale)) * c;
        const dst = ((y0 + y) * png.width + x0 + x) * 4;
        for (let k = 0; k < 3; k++) {
          const v = data[src + (c === 1 ? 0 : k)]!;
          png.data[dst + k] = Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
        }
        png.data[dst + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png);
}

export function writeImageGrid(path: string, batch: ImageBatch, columns: number, scale = 2): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, encodeImageGrid(batch, columns, scale));
  renameSync(tmp, path);
}
