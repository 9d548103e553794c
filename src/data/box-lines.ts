/**
 * @module
 * The printed box of a form's digit field, taken out when a picture is cut along it: a frame of lines on all four
 * edges made the frame look like ink-coloured paper, the picture was read inverted, and 9 of 10 MNIST digits so
 * boxed were misread. Not the rest of the preparation (`preprocess.ts`).
 */

/** How far in from each edge a box's line may reach, as a share of the side (and at least 1 px). */
const MAX_DEPTH = 0.15;
/** A line: at least this share of a row or column far from the paper (a digit's stroke crosses it, a box fills it). */
const LINE_SHARE = 0.8;
/** A line's soft edge (resampled): a further row at least this share far is erased with it. */
const EDGE_SHARE = 0.5;
/** Far from the paper: this much lighter or darker than the picture's median. */
const FAR = 0.3;

/** The median of values in [0, 1], to 1/1024, by a histogram (pictures reach 2^18 pixels). */
function medianOf(gray: Float32Array): number {
  const bins = new Uint32Array(1025);
  for (let i = 0; i < gray.length; i++) bins[Math.round(Math.min(1, Math.max(0, gray[i])) * 1024)]++;
  let seen = 0;
  for (let b = 0; b <= 1024; b++) if ((seen += bins[b]) * 2 > gray.length) return b / 1024;
  return 1;
}

/**
 * Whether a picture whose frame is all `level` may hold a box (`eraseBoxLines` would change it): only if at least
 * half its pixels are nearly `FAR` from `level`, since otherwise the median is within `FAR` of the frame. One pass,
 * for the common uniform frame (an MNIST-style margin), which it almost always rules out.
 */
export function mayBeBoxed(gray: Float32Array, level: number): boolean {
  let far = 0;
  for (let i = 0; i < gray.length; i++) if (Math.abs(gray[i] - level) > FAR - 0.01) far++;
  return far * 2 >= gray.length;
}

/**
 * `gray` with a box's lines painted over with the paper next to them inside, or `gray` itself. A box is there when
 * each of the four edges starts with lines, up to `MAX_DEPTH` in: rows (columns) in which at least `LINE_SHARE` of
 * the pixels are `FAR` from the picture's median (the paper). A digit cut to its ink has strokes on every edge but
 * not a line along all four, so it is left as it is; so is a box inside a margin of paper (the preparation crops
 * to it with the digit).
 */
export function eraseBoxLines(gray: Float32Array, width: number, height: number): Float32Array {
  if (width < 16 || height < 16) return gray;
  const paper = medianOf(gray);
  const farShare = (x0: number, y0: number, dx: number, dy: number, n: number) => {
    let far = 0;
    for (let k = 0, x = x0, y = y0; k < n; k++, x += dx, y += dy) {
      if (Math.abs(gray[y * width + x] - paper) > FAR) far++;
    }
    return far / n;
  };
  const row = (y: number) => farShare(0, y, 1, 0, width);
  const column = (x: number) => farShare(x, 0, 0, 1, height);
  /** How many lines an edge starts with (`line(i)`: the i-th row or column from it), and their soft edge. */
  const depth = (line: (i: number) => number, side: number) => {
    const max = Math.max(1, Math.floor(side * MAX_DEPTH));
    let k = 0;
    while (k < max && line(k) >= LINE_SHARE) k++;
    if (k > 0 && k < max && line(k) >= EDGE_SHARE) k++;
    // Inside a box is paper: a band followed by more of its colour is the margin of a picture mostly ink.
    return k > 0 && k < side && line(k) < EDGE_SHARE ? k : 0;
  };
  const top = depth(row, height);
  const bottom = depth((i) => row(height - 1 - i), height);
  const left = depth(column, width);
  const right = depth((i) => column(width - 1 - i), width);
  if (!(top && bottom && left && right)) return gray;
  // Each erased pixel takes the value of the nearest pixel inside the box: the paper's shading carries on.
  const out = Float32Array.from(gray);
  const [y1, x1] = [height - 1 - bottom, width - 1 - right];
  for (let y = 0; y < height; y++) {
    const sy = Math.min(y1, Math.max(top, y));
    for (let x = 0; x < width; x++) {
      if (sy !== y || x < left || x > x1)
        out[y * width + x] = gray[sy * width + Math.min(x1, Math.max(left, x))];
    }
  }
  return out;
}
