import { describe, expect, it } from 'vitest';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from '../src/index.js';

// Expected bit patterns follow from the IEEE 754 binary16 layout (1 sign, 5 exponent bits biased
// by 15, 10 fraction bits) and bfloat16 = the top half of binary32, with round-to-nearest-even.
describe('float16', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite
    [65519.99, 0x7bff], // below the halfway point to 2^16
    [65520, 0x7c00], // halfway: ties-to-even rounds up to Infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
    [3 * 2 ** -25, 0x0002], // 1.5 subnormal steps: ties to even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the smallest normal
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: ties to even
    [1 + 3 * 2 ** -11, 0x3c02],
    [2047.5, 0x6800], // spacing is 1 in [1024, 2048): ties between 2047 (odd) and 2048 → 2048
    [-0, 0x8000],
  ];

  it.each(cases)('%s → 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('NaN stays NaN both ways', () => {
    const h = float32ToFloat16Bits(NaN);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x3ff).not.toBe(0);
    expect(float16BitsToFloat32(0x7e00)).toBeNaN();
  });

  it('decodes every non-NaN half exactly and re-encodes it to the same bits', () => {
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      if (float32ToFloat16Bits(float16BitsToFloat32(h)) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('bfloat16', () => {
  it.each([
    [1, 0x3f80],
    [-2, 0xc000],
    [1 + 2 ** -8, 0x3f80], // halfway, ties to even
    [1 + 3 * 2 ** -8, 0x3f82], // halfway, ties to even (up)
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above halfway
    [3.4028234663852886e38, 0x7f80], // float32 max rounds to Infinity
    [Infinity, 0x7f80],
    [2 ** -133, 0x0001], // float32 subnormal keeps its top bits
  ])('%s → 0x%s', (value, bits) => {
    expect(float32ToBfloat16Bits(value)).toBe(bits);
  });

  it('NaN stays NaN and decoding is the top half of float32', () => {
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(NaN))).toBeNaN();
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
    expect(bfloat16BitsToFloat32(0x4049)).toBe(3.140625);
    expect(bfloat16BitsToFloat32(0xff80)).toBe(-Infinity);
  });
});
