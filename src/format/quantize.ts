/**
 * @module
 * Symmetric int8 quantization with one float32 scale per output row, the `int8` weight encoding.
 * Not a training-time (fake) quantizer: it is applied once to finished weights.
 */

/** Rounds to the nearest integer, ties to even (as binary16 rounding and PyTorch's quantizers do). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties go up: fix those that went up to an odd number
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * 1.5·2^52: for |x| < 2^51, (x + SHIFTER) − SHIFTER is x rounded to an integer by the float64 addition itself,
 * which rounds ties to even: `roundHalfEven` without a branch, for the quantizer's values (|x| ≤ 127.5).
 */
const SHIFTER = 6755399441055744;

/**
 * Quantizes a `[rows×cols]` row-major weight: `scale[r] = max|row r| / 127` (float32),
 * `q = roundHalfEven(w / scale)` clamped to [-127, 127], so `|w - q·scale| ≤ scale/2`.
 * A row of zeros gets scale 0 and all-zero q. A non-finite weight gives a non-finite scale, which the encoder refuses.
 */
export function quantizeRows(
  weight: Float32Array,
  rows: number,
  cols: number,
): { q: Int8Array; scale: Float32Array } {
  if (weight.length !== rows * cols) {
    throw new RangeError(`quantizeRows: weight has ${weight.length} values, expected ${rows}×${cols}`);
  }
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    let max = 0;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(weight[start + c]);
      if (a > max || Number.isNaN(a)) max = a; // a NaN sticks, and shows in the scale
    }
    const s = Math.fround(max / 127);
    scale[r] = s;
    if (!(s > 0) || !Number.isFinite(s)) continue; // all zero (or not finite): q stays 0
    for (let c = 0; c < cols; c++) {
      const v = weight[start + c] / s + SHIFTER - SHIFTER;
      q[start + c] = v > 127 ? 127 : v < -127 ? -127 : v;
    }
  }
  return { q, scale };
}
