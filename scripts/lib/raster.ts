/**
 * @module
 * A small anti-aliased pen for the generated non-digit images: round-capped polylines, filled polygons and
 * ellipses on a square float canvas (white ink on black, 0..1), as a person draws on the page's pad. Pure.
 */

export type Point = [number, number];

/** A square ink canvas, [side×side] values in [0, 1]; every mark is max-combined with what is there. */
export class InkCanvas {
  readonly data: Float32Array;

  constructor(readonly side: number) {
    this.data = new Float32Array(side * side);
  }

  /** A round-capped polyline of `width` pixels through `points` (canvas pixels), anti-aliased over one pixel. */
  stroke(points: readonly Point[], width: number, level = 1): void {
    if (points.length === 1) points = [points[0], points[0]];
    for (let i = 1; i < points.length; i++) this.segment(points[i - 1], points[i], width / 2, level);
  }

  private segment([ax, ay]: Point, [bx, by]: Point, r: number, level: number): void {
    const { side, data } = this;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - r - 1));
    const x1 = Math.min(side - 1, Math.ceil(Math.max(ax, bx) + r + 1));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - r - 1));
    const y1 = Math.min(side - 1, Math.ceil(Math.max(ay, by) + r + 1));
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax;
        const py = y + 0.5 - ay;
        const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
        const d = Math.hypot(px - t * dx, py - t * dy);
        const v = Math.min(1, Math.max(0, r + 0.5 - d)) * level;
        if (v > data[y * side + x]) data[y * side + x] = v;
      }
    }
  }

  /** Fills the polygon (even-odd rule, pixel centres). */
  fillPolygon(points: readonly Point[], level = 1): void {
    const { side, data } = this;
    for (let y = 0; y < side; y++) {
      const cy = y + 0.5;
      for (let x = 0; x < side; x++) {
        const cx = x + 0.5;
        let inside = false;
        for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
          const [xi, yi] = points[i];
          const [xj, yj] = points[j];
          if (yi > cy !== yj > cy && cx < ((xj - xi) * (cy - yi)) / (yj - yi) + xi) inside = !inside;
        }
        if (inside && level > data[y * side + x]) data[y * side + x] = level;
      }
    }
  }

  /** A soft filled ellipse: full ink inside, fading over `soft` pixels at the rim. */
  fillEllipse(cx: number, cy: number, rx: number, ry: number, angle: number, soft = 1, level = 1): void {
    const { side, data } = this;
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const reach = Math.max(rx, ry) + soft + 1;
    for (let y = Math.max(0, Math.floor(cy - reach)); y <= Math.min(side - 1, cy + reach); y++) {
      for (let x = Math.max(0, Math.floor(cx - reach)); x <= Math.min(side - 1, cx + reach); x++) {
        const px = x + 0.5 - cx;
        const py = y + 0.5 - cy;
        const u = (px * c + py * s) / rx;
        const w = (-px * s + py * c) / ry;
        // Distance outside the rim in pixels, roughly.
        const outside = (Math.sqrt(u * u + w * w) - 1) * Math.min(rx, ry);
        const v = Math.min(1, Math.max(0, 0.5 - outside / soft)) * level;
        if (v > data[y * side + x]) data[y * side + x] = v;
      }
    }
  }
}

/** Points along an elliptical arc from angle `from` to `to` (radians, y down). */
export function arc(
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  from: number,
  to: number,
  n = 16,
): Point[] {
  return Array.from({ length: n + 1 }, (_, i) => {
    const t = from + ((to - from) * i) / n;
    return [cx + rx * Math.cos(t), cy + ry * Math.sin(t)] as Point;
  });
}

/** A random affine jitter of unit-square strokes (rotation, shear, scale, wobble), mapped to canvas pixels. */
export function placeStrokes(
  strokes: readonly (readonly Point[])[],
  side: number,
  rng: () => number,
  { rotate = 0.25, shear = 0.25, wobble = 0.012 } = {},
): Point[][] {
  const a = (rng() * 2 - 1) * rotate;
  const sh = (rng() * 2 - 1) * shear;
  const sx = 0.7 + rng() * 0.3;
  const sy = 0.7 + rng() * 0.3;
  const c = Math.cos(a);
  const s = Math.sin(a);
  const margin = side * 0.12;
  const span = side - 2 * margin;
  return strokes.map((stroke) =>
    stroke.map(([x, y]) => {
      const u = (x - 0.5 + (rng() - 0.5) * 2 * wobble) * sx + sh * (y - 0.5);
      const v = (y - 0.5 + (rng() - 0.5) * 2 * wobble) * sy;
      return [margin + span * (0.5 + c * u - s * v), margin + span * (0.5 + s * u + c * v)] as Point;
    }),
  );
}
