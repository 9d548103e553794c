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
/** Far from the paper: this much lighter or darker than its level. */
const FAR = 0.3;

/** The part of a picture no box line reaches (`MAX_DEPTH` in from each edge). */
function inside(width: number, height: number) {
  const [mx, my] = [Math.max(1, Math.floor(width * MAX_DEPTH)), Math.max(1, Math.floor(height * MAX_DEPTH))];
  return { x0: mx, x1: width - mx, y0: my, y1: height - my };
}

/** The median of the values in rows y0..y1-1 and columns x0..x1-1, to 1/1024, by a histogram (pictures reach
 * 2^18 pixels). */
function medianIn(gray: Float32Array, width: number, x0: number, x1: number, y0: number, y1: number): number {
  const bins = new Uint32Array(1025);
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) bins[Math.round(Math.min(1, Math.max(0, gray[y * width + x])) * 1024)]++;
  const count = (x1 - x0) * (y1 - y0);
  let seen = 0;
  for (let b = 0; b <= 1024; b++) if ((seen += bins[b]) * 2 > count) return b / 1024;
  return 1;
}

/**
 * Whether a picture whose frame is all `level` may hold a box (`eraseBoxLines` would change it): only if at least
 * half the pixels of the whole picture, or of the part inside the box's reach, are nearly `FAR` from `level`, since
 * otherwise each paper level it tries is within `FAR` of the frame. Two passes at most, for the common uniform
 * frame (an MNIST-style margin), which the first almost always rules out.
 */
export function mayBeBoxed(gray: Float32Array, width: number, height: number, level: number): boolean {
  if (width < 16 || height < 16) return false;
  const { x0, x1, y0, y1 } = inside(width, height);
  return halfFar(gray, width, level, x0, x1, y0, y1) || halfFar(gray, width, level, 0, width, 0, height);
}

/**
 * Whether at least half the pixels of rows y0..y1-1, columns x0..x1-1 are nearly `FAR` (less 0.01) from `level`,
 * stopping at the first row that settles it (on the JSON path's MNIST-style images, about half-way).
 */
function halfFar(
  gray: Float32Array,
  width: number,
  level: number,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
): boolean {
  const half = ((x1 - x0) * (y1 - y0)) / 2;
  const near = FAR - 0.01;
  let far = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * width;
    for (let x = x0; x < x1; x++) {
      const d = gray[row + x] - level;
      if (d > near || d < -near) far++;
    }
    if (far >= half) return true;
    if (far + (y1 - y - 1) * (x1 - x0) < half) return false;
  }
  return far >= half;
}

/**
 * `gray` with a box's lines painted over with the paper next to them inside, or `gray` itself. A box is there when
 * each of the four edges starts with lines, up to `MAX_DEPTH` in: rows (columns) in which at least `LINE_SHARE` of
 * the pixels are `FAR` from the paper (the picture's median, else the median inside the box's reach). Most of what the box holds must be that paper.
 * A digit cut to its ink has strokes on every edge but rarely a line along all four, so it is left as it is (not
 * always: 2 of 2,000 MNIST test digits so cut, a square 0 and a 2, read as boxes); so is a box inside a margin of paper (the preparation crops
 * to it with the digit).
 */
export function eraseBoxLines(gray: Float32Array, width: number, height: number): Float32Array {
  if (width < 16 || height < 16) return gray;
  // The paper is most of the picture, or, when a box takes much of a small one, most of what is inside its reach.
  const { x0, x1, y0, y1 } = inside(width, height);
  return (
    boxAgainst(gray, width, height, medianIn(gray, width, 0, width, 0, height)) ??
    boxAgainst(gray, width, height, medianIn(gray, width, x0, x1, y0, y1)) ??
    gray
  );
}

/** `gray` with the lines of a box against a paper of level `paper` painted over, or null without such a box. */
function boxAgainst(gray: Float32Array, width: number, height: number, paper: number): Float32Array | null {
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
  if (!(top && bottom && left && right)) return null;
  // And most of what the box holds is that paper (else `paper` was the ink's level, and the "box" a margin).
  if (halfFar(gray, width, paper, left, width - right, top, height - bottom)) return null;
  // Painted with the paper's level: copying the nearest pixel inside would carry a shadow on, but also smear a
  // stroke's faint edge near the box out to the frame, where the crop would take it for ink.
  const out = Float32Array.from(gray);
  for (let y = 0; y < height; y++) {
    const band = y < top || y >= height - bottom;
    for (let x = 0; x < width; x++) if (band || x < left || x >= width - right) out[y * width + x] = paper;
  }
  return out;
}
