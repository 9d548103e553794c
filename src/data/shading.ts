/**
 * @module
 * Uneven light on the paper (a photo with a shadow across it, a scan lit from one side), taken out before the ink
 * is found: the ink is what differs from the paper, and a paper that runs from 0.55 to 1 across the picture hid
 * whole digits below the noise floor (985 of 1,000 MNIST digits so lit were refused as having no ink). Not the
 * rest of the preparation (`preprocess.ts`).
 */

/** The least tilt of the paper (its level's change across the picture) worth correcting. */
export const MIN_TILT = 0.15;

/** Pixels of the picture's outermost ring, each once, as [x, y] from the centre, and their values. */
function frame(gray: Float32Array, width: number, height: number) {
  const xs: number[] = [];
  const ys: number[] = [];
  const vs: number[] = [];
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const add = (x: number, y: number) => {
    xs.push(x - cx);
    ys.push(y - cy);
    vs.push(gray[y * width + x]);
  };
  for (let x = 0; x < width; x++) {
    add(x, 0);
    add(x, height - 1);
  }
  for (let y = 1; y < height - 1; y++) {
    add(0, y);
    add(width - 1, y);
  }
  return { xs, ys, vs, cx, cy };
}

/** The 75th percentile of `values`' absolute values. */
function upperQuartile(values: number[]): number {
  const sorted = Float64Array.from(values, Math.abs).sort();
  return sorted[Math.floor(sorted.length * 0.75)];
}

/**
 * `gray` with the paper's tilt taken out, or `gray` itself. A plane `a + b·x + c·y` is fitted to the frame by least
 * squares; it is used only when it tilts by at least `MIN_TILT` across the picture and explains the frame: the
 * frame's upper-quartile distance from it at most half that from the frame's median. So a uniform paper, a noisy
 * one, or a frame the ink runs into is left as it is. A light paper is divided by the plane (light multiplies:
 * the ink keeps its contrast to the paper next to it) and brought to the plane's brightest corner; a dark one has
 * the plane's rise subtracted.
 */
export function flattenShading(gray: Float32Array, width: number, height: number): Float32Array {
  if (width < 8 || height < 8) return gray;
  const { xs, ys, vs, cx, cy } = frame(gray, width, height);
  let [n, sx, sy, sv, sxx, syy, sxy, sxv, syv] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < vs.length; i++) {
    const [x, y, v] = [xs[i], ys[i], vs[i]];
    [n, sx, sy, sv] = [n + 1, sx + x, sy + y, sv + v];
    [sxx, syy, sxy, sxv, syv] = [sxx + x * x, syy + y * y, sxy + x * y, sxv + x * v, syv + y * v];
  }
  // The normal equations [n sx sy; sx sxx sxy; sy sxy syy]·[a b c] = [sv sxv syv], by Cramer's rule.
  const det = (m: number[]) =>
    m[0] * (m[4] * m[8] - m[5] * m[7]) -
    m[1] * (m[3] * m[8] - m[5] * m[6]) +
    m[2] * (m[3] * m[7] - m[4] * m[6]);
  const d = det([n, sx, sy, sx, sxx, sxy, sy, sxy, syy]);
  if (!(Math.abs(d) > 1e-9)) return gray;
  const a = det([sv, sx, sy, sxv, sxx, sxy, syv, sxy, syy]) / d;
  const b = det([n, sv, sy, sx, sxv, sxy, sy, syv, syy]) / d;
  const c = det([n, sx, sv, sx, sxx, sxv, sy, sxy, syv]) / d;
  if (!(Math.abs(b) * (width - 1) + Math.abs(c) * (height - 1) >= MIN_TILT)) return gray;
  const median = Float64Array.from(vs).sort()[vs.length >> 1];
  const fitted = upperQuartile(vs.map((v, i) => v - (a + b * xs[i] + c * ys[i])));
  if (!(fitted <= 0.5 * upperQuartile(vs.map((v) => v - median)))) return gray;
  const plane = (x: number, y: number) => a + b * (x - cx) + c * (y - cy);
  const corners = [plane(0, 0), plane(width - 1, 0), plane(0, height - 1), plane(width - 1, height - 1)];
  const out = new Float32Array(gray.length);
  if (sv / n > 0.5) {
    const top = Math.min(1, Math.max(...corners));
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        out[i] = Math.min(1, (gray[i] * top) / Math.max(0.05, plane(x, y)));
      }
  } else {
    const bottom = Math.max(0, Math.min(...corners));
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        out[i] = Math.min(1, Math.max(0, gray[i] - (plane(x, y) - bottom)));
      }
  }
  return out;
}
