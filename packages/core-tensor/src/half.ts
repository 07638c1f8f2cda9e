// IEEE 754 binary16 and bfloat16 conversions from/to float32 values, rounding to nearest-even.

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function roundHalfEven(q: number): number {
  const r = Math.floor(q);
  const frac = q - r;
  return frac > 0.5 || (frac === 0.5 && r % 2 === 1) ? r + 1 : r;
}

/** float32 value → binary16 bits. Overflow gives ±Infinity, tiny values round to subnormals or ±0, NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  F32[0] = value;
  const bits = U32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  if (exp === 0xff) return sign | 0x7c00 | ((bits & 0x7fffff) !== 0 ? 0x200 | ((bits >>> 13) & 0x3ff) : 0);
  const a = Math.abs(F32[0]!);
  // 65520 is halfway between the largest half (65504) and 2^16; ties-to-even rounds it up to Infinity.
  if (a >= 65520) return sign | 0x7c00;
  // Subnormal range: steps of 2^-24; a result of 1024 is exactly the smallest normal's encoding.
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  const e = exp - 127;
  let q = roundHalfEven(a * 2 ** (10 - e));
  let biased = e + 15;
  if (q === 2048) {
    q = 1024;
    biased += 1;
  }
  return sign | (biased << 10) | (q - 1024);
}

/** binary16 bits → the exactly equal float32 value. */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** float32 value → bfloat16 bits (the upper half of the float32 bits, rounded to nearest-even). */
export function float32ToBfloat16Bits(value: number): number {
  F32[0] = value;
  const bits = U32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits → the exactly equal float32 value. */
export function bfloat16BitsToFloat32(b: number): number {
  U32[0] = (b & 0xffff) << 16;
  return F32[0]!;
}
