import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { encodeImageGrid } from '../src/image-grid.js';

describe('image grid', () => {
  it('places each image in its cell and maps [-1, 1] to [0, 255]', () => {
    // Two 2×2 grayscale images: the first all -1 (black), the second a gradient.
    const data = new Float32Array([-1, -1, -1, -1, -1, 0, 0.5, 2]);
    const png = PNG.sync.read(encodeImageGrid({ data, n: 2, height: 2, width: 2, channels: 1 }, 2, 1));
    // Cell width 2 + 2 px separator, plus the leading 2 px border.
    expect(png.width).toBe(2 + 2 * 4);
    expect(png.height).toBe(2 + 4);
    const px = (x: number, y: number) => png.data[(y * png.width + x) * 4]!;
    expect(px(2, 2)).toBe(0);
    expect(px(6, 2)).toBe(0);
    expect(px(7, 2)).toBe(128); // 0 → 127.5, rounded
    expect(px(6, 3)).toBe(191); // 0.5 → 191.25
    expect(px(7, 3)).toBe(255); // 2 is clipped to 1
    expect(px(0, 0)).toBe(255); // separator stays white
  });

  it('rejects data whose size does not match the shape', () => {
    expect(() => encodeImageGrid({ data: new Float32Array(3), n: 1, height: 2, width: 2, channels: 1 }, 1)).toThrow(
      /expected 1×2×2×1/,
    );
  });
});
