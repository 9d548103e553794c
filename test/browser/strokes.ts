/**
 * @module
 * Hand-written digits as mouse strokes for the browser tests: polylines in unit coordinates of a square pad, and
 * a helper that draws them with real mouse events. Not a font: shapes a person might draw with a mouse.
 */
import type { Locator, Page } from 'playwright-core';

type Point = [number, number];

function ellipse(cx: number, cy: number, rx: number, ry: number, from: number, to: number, n = 20): Point[] {
  return Array.from({ length: n + 1 }, (_, i) => {
    const t = from + ((to - from) * i) / n;
    return [cx + rx * Math.cos(t), cy + ry * Math.sin(t)] as Point;
  });
}

/** Each digit: strokes (pen down, move through the points, pen up). */
export const DIGIT_STROKES: Record<number, Point[][]> = {
  0: [ellipse(0.5, 0.5, 0.22, 0.34, -Math.PI / 2, (3 * Math.PI) / 2, 28)],
  1: [
    [
      [0.42, 0.24],
      [0.53, 0.14],
      [0.53, 0.86],
    ],
  ],
  2: [[...ellipse(0.5, 0.33, 0.2, 0.18, Math.PI * 1.05, Math.PI * 2.25, 14), [0.3, 0.84], [0.74, 0.84]]],
  3: [
    [
      ...ellipse(0.48, 0.3, 0.2, 0.16, Math.PI * 1.1, Math.PI * 2.5, 14),
      ...ellipse(0.48, 0.66, 0.22, 0.19, -Math.PI * 0.5, Math.PI * 0.9, 14),
    ],
  ],
  4: [
    [
      [0.6, 0.86],
      [0.6, 0.14],
      [0.24, 0.62],
      [0.78, 0.62],
    ],
  ],
  7: [
    [
      [0.26, 0.18],
      [0.74, 0.18],
      [0.45, 0.86],
    ],
  ],
};

/** Not a digit: a box scratched out with a zigzag, as a user does to cross something out. */
export const SCRIBBLE_STROKES: Point[][] = [
  [
    [0.15, 0.15],
    [0.85, 0.15],
    [0.85, 0.85],
    [0.15, 0.85],
    [0.15, 0.15],
  ],
  Array.from({ length: 9 }, (_, i): Point => [i % 2 ? 0.82 : 0.18, 0.18 + i * 0.08]),
];

/** Draws `strokes` on `canvas` with mouse events (down, moves in small steps, up for each stroke). */
export async function drawStrokes(page: Page, canvas: Locator, strokes: Point[][]): Promise<void> {
  const box = (await canvas.boundingBox())!;
  const at = ([x, y]: Point): Point => [box.x + x * box.width, box.y + y * box.height];
  for (const stroke of strokes) {
    const [x0, y0] = at(stroke[0]);
    await page.mouse.move(x0, y0);
    await page.mouse.down();
    for (const point of stroke.slice(1)) {
      const [x, y] = at(point);
      await page.mouse.move(x, y, { steps: 6 });
    }
    await page.mouse.up();
  }
}

/** Draws `digit` on `canvas` with mouse events (down, moves in small steps, up for each stroke). */
export async function drawDigit(page: Page, canvas: Locator, digit: number): Promise<void> {
  await drawStrokes(page, canvas, DIGIT_STROKES[digit]);
}
