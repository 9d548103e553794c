/**
 * @module
 * IEEE 754 binary16 ⇄ binary32 conversion on bit patterns, written out so that rounding (to nearest, ties to even),
 * subnormals, infinities and NaN are exact and the same on every runtime. Not a Float16Array polyfill.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The binary16 bit pattern nearest to `value` once rounded to float32 (callers pass float32 values, so that
 * first rounding is exact). Ties go to even; too large becomes ±Inf; too small becomes ±0; NaN stays a quiet NaN.
 */
export function floatToHalfBits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 127 + 15; // rebias
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    // Normal: drop 13 mantissa bits. A carry out of the mantissa bumps the exponent, up to Inf, which is right.
    const half = sign | (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    return rest > 0x1000 || (rest === 0x1000 && half & 1) ? half + 1 : half;
  }
  // Subnormal or zero in binary16: value = m · 2^-24 with m = significand >> shift, rounded to even.
  if (e < -10) return sign; // below half the smallest subnormal (2^-25)
  const significand = mantissa | 0x800000;
  const shift = 14 - e; // 14 … 24
  let m = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && m & 1)) m++; // m may reach 0x400: the smallest normal, still right
  return sign | m;
}

/** 2^(e-25) for binary16 exponent field e: a normal value is (1024 + mantissa) · 2^(e-25). */
const NORMAL_SCALE = /* @__PURE__ */ Float64Array.from({ length: 32 }, (_, e) => 2 ** (e - 25));

/** The value of a binary16 bit pattern (exact: every binary16 value is a float32 value). */
export function halfBitsToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (e === 0) return sign * mantissa * 2 ** -24;
  if (e === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1024 + mantissa) * NORMAL_SCALE[e];
}
