/**
 * @module
 * Digits made in headless Chromium for `npm run eval-robustness`, two held-out sets nothing in training
 * resembles:
 * - **drawn**: digits drawn with real mouse events on the page's own `<digit-pad>` (the product's widget script,
 *   its 280×280 canvas and pen), from stroke templates of all ten digits varied per "writer" (slant, rotation,
 *   size, aspect, position, wobble); the canvas's PNG is what the widget would upload.
 * - **typed**: digits typed with `fillText` on a canvas in every text font family the machine has (`fc-list`;
 *   symbol and dingbat fonts, and families training types in, left out), regular, bold and italic, at several
 *   sizes and places. Training renders other families (`typed-digits.ts`, which refuses these and their twins).
 * PNGs are cached in `build/robustness/` (a generator version, the seed and the font families in the name). Needs `playwright-core` and
 * Debian's `chromium`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decode } from 'fast-png';
import { chromium, type Page } from 'playwright-core';
import type { RasterImage } from '../../src/data/preprocess.ts';
import { createRng } from '../../src/nn/index.ts';
import { drawingPage } from '../../src/worker/web/page.ts';
import { WIDGET_JS } from '../../src/worker/web/widget-script.ts';
import type { RobustnessSet } from './robustness.ts';
import { fontFaces, isTrainingFamily } from './typed-digits.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VERSION = 2;
const ORIGIN = 'http://digits.invalid';

type Point = [number, number];
const arc = (cx: number, cy: number, rx: number, ry: number, from: number, to: number, n = 16): Point[] =>
  Array.from({ length: n + 1 }, (_, i) => {
    const t = ((from + ((to - from) * i) / n) * Math.PI) / 180;
    return [cx + rx * Math.cos(t), cy + ry * Math.sin(t)];
  });

/** Stroke templates in unit coordinates (y down), one or more ways of writing each digit. */
export const TEMPLATES: Record<number, Point[][][]> = {
  0: [[arc(0.5, 0.5, 0.25, 0.38, -90, 270, 28)], [arc(0.5, 0.5, 0.28, 0.36, -60, 300, 28)]],
  1: [
    [
      [
        [0.5, 0.12],
        [0.5, 0.88],
      ],
    ],
    [
      [
        [0.36, 0.26],
        [0.54, 0.12],
        [0.54, 0.88],
      ],
      [
        [0.38, 0.88],
        [0.7, 0.88],
      ],
    ],
  ],
  2: [
    [[...arc(0.5, 0.32, 0.24, 0.2, 190, 380, 14), [0.26, 0.86], [0.78, 0.86]]],
    [[...arc(0.5, 0.34, 0.22, 0.22, 200, 400, 14), [0.4, 0.68], [0.25, 0.86], [0.78, 0.84]]],
  ],
  3: [
    [[...arc(0.48, 0.3, 0.22, 0.17, 200, 450, 14), ...arc(0.48, 0.67, 0.25, 0.2, -90, 160, 14)]],
    [[[0.28, 0.14], [0.72, 0.14], [0.45, 0.44], ...arc(0.48, 0.66, 0.25, 0.21, -90, 160, 14)]],
  ],
  4: [
    [
      [
        [0.6, 0.88],
        [0.6, 0.12],
        [0.22, 0.64],
        [0.8, 0.64],
      ],
    ],
    [
      [
        [0.34, 0.12],
        [0.26, 0.58],
        [0.8, 0.58],
      ],
      [
        [0.64, 0.3],
        [0.64, 0.9],
      ],
    ],
  ],
  5: [
    [[[0.74, 0.14], [0.34, 0.14], [0.3, 0.46], ...arc(0.5, 0.64, 0.25, 0.22, -130, 150, 16)]],
    [
      [[0.34, 0.14], [0.3, 0.46], ...arc(0.5, 0.64, 0.25, 0.22, -130, 150, 16)],
      [
        [0.34, 0.14],
        [0.76, 0.14],
      ],
    ],
  ],
  6: [
    [[...arc(0.62, 0.5, 0.3, 0.38, -100, -180, 8), ...arc(0.5, 0.66, 0.22, 0.21, 180, 540, 20)]],
    [[[0.66, 0.12], [0.36, 0.5], ...arc(0.5, 0.68, 0.21, 0.19, 200, 560, 20)]],
  ],
  7: [
    [
      [
        [0.24, 0.16],
        [0.76, 0.16],
        [0.44, 0.88],
      ],
    ],
    [
      [
        [0.24, 0.16],
        [0.76, 0.16],
        [0.5, 0.88],
      ],
      [
        [0.4, 0.52],
        [0.72, 0.52],
      ],
    ],
  ],
  8: [
    [[...arc(0.5, 0.3, 0.19, 0.17, 90, 450, 18), ...arc(0.5, 0.68, 0.23, 0.2, -90, 270, 18)]],
    [[...arc(0.5, 0.31, 0.2, 0.18, 30, 330, 16), ...arc(0.5, 0.68, 0.22, 0.2, -90, 270, 18), [0.62, 0.18]]],
  ],
  9: [
    [[...arc(0.5, 0.33, 0.21, 0.2, 0, 360, 20), [0.71, 0.33], [0.68, 0.88]]],
    [[...arc(0.48, 0.32, 0.2, 0.19, 10, 370, 20), [0.68, 0.4], [0.46, 0.88]]],
  ],
};

/** One writer's version of a template: slanted, rotated, scaled, moved and wobbling, in pad coordinates. */
function writeLike(strokes: Point[][], rng: () => number, size: number): Point[][] {
  const u = (lo: number, hi: number) => lo + rng() * (hi - lo);
  const slant = u(-0.35, 0.25);
  const t = (u(-12, 12) * Math.PI) / 180;
  const scale = u(0.5, 0.95);
  const aspect = u(0.75, 1.25);
  const cx = u(0.35, 0.65);
  const cy = u(0.38, 0.62);
  const wobble = u(0, 0.015);
  return strokes.map((stroke) =>
    stroke.map(([x, y]) => {
      let px = (x - 0.5) * aspect + slant * (0.5 - y);
      let py = y - 0.5;
      [px, py] = [px * Math.cos(t) - py * Math.sin(t), px * Math.sin(t) + py * Math.cos(t)];
      px = cx + scale * px + u(-wobble, wobble);
      py = cy + scale * py + u(-wobble, wobble);
      const clamp = (v: number) => Math.min(size - 2, Math.max(2, v * size));
      return [clamp(px), clamp(py)] as Point;
    }),
  );
}

/** Draws on the page's `<digit-pad>` with the mouse; returns the canvas's PNG (what the widget uploads). */
async function drawOnPad(page: Page, strokes: Point[][]): Promise<Uint8Array> {
  const box = (await page.locator('digit-pad canvas').boundingBox())!;
  for (const stroke of strokes) {
    await page.mouse.move(box.x + stroke[0][0], box.y + stroke[0][1]);
    await page.mouse.down();
    for (const [x, y] of stroke.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps: 3 });
    await page.mouse.up();
  }
  // In the page (a string: this file is compiled without the DOM's types).
  const url = await page.evaluate<string>(`(() => {
    const pad = document.querySelector('digit-pad');
    const png = pad.shadowRoot.querySelector('canvas').toDataURL('image/png');
    pad.clear();
    return png;
  })()`);
  return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
}

/** Families fontconfig lists that have no ordinary digits (URW's dingbats and symbols). */
const NOT_TEXT = /dingbat|symbol|^D050000L$/i;

/** Text font families fontconfig knows (first name of each), but those training types digits in. */
export function fontFamilies(): string[] {
  try {
    const out = execFileSync('fc-list', [':', 'family'], { encoding: 'utf8' });
    const trained = fontFaces();
    return [
      ...new Set(
        out
          .split('\n')
          .map((l) => l.split(',')[0].trim())
          .filter((family) => family && !NOT_TEXT.test(family) && !isTrainingFamily(family, trained)),
      ),
    ].sort();
  } catch {
    return [];
  }
}

interface Cached {
  drawn: { label: number; png: string }[];
  typed: { label: number; png: string; font: string }[];
}

async function generate(seed: number, writers: number): Promise<Cached> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 800, height: 1000 } });
    await page.route(`${ORIGIN}/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === '/') return route.fulfill({ contentType: 'text/html', body: drawingPage('/widget.js') });
      if (path === '/widget.js') return route.fulfill({ contentType: 'text/javascript', body: WIDGET_JS });
      // Predictions are not wanted here, only the pictures.
      return route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: '{"error":{"code":"offline"}}',
      });
    });
    await page.goto(`${ORIGIN}/`);
    await page.waitForSelector('digit-pad canvas');
    const size = (await page.locator('digit-pad canvas').boundingBox())!.width;
    const rng = createRng(seed ^ 0xd1a3);
    const drawn: Cached['drawn'] = [];
    for (let w = 0; w < writers; w++) {
      for (let label = 0; label < 10; label++) {
        const variants = TEMPLATES[label];
        const strokes = writeLike(variants[Math.floor(rng() * variants.length)], rng, size);
        drawn.push({ label, png: Buffer.from(await drawOnPad(page, strokes)).toString('base64') });
      }
    }
    const fonts = fontFamilies();
    const typedRng = createRng(seed ^ 0x7e9e);
    const specs = fonts.flatMap((font) =>
      ['normal', 'bold', 'italic'].flatMap((style) =>
        Array.from({ length: 10 }, (_, label) => ({
          font,
          style,
          label,
          px: Math.round(110 + typedRng() * 130),
          dx: typedRng() * 60 - 30,
          dy: typedRng() * 60 - 30,
        })),
      ),
    );
    const pngs = await page.evaluate<string[]>(`(${JSON.stringify(specs)}).map((s) => {
      const c = document.createElement('canvas');
      c.width = 280;
      c.height = 280;
      const g = c.getContext('2d');
      g.fillStyle = '#fff';
      g.fillRect(0, 0, 280, 280);
      g.fillStyle = '#000';
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.font = (s.style === 'normal' ? '' : s.style + ' ') + s.px + 'px "' + s.font + '"';
      g.fillText(String(s.label), 140 + s.dx, 140 + s.dy);
      const url = c.toDataURL('image/png');
      return url.slice(url.indexOf(',') + 1);
    })`);
    const typed = specs.map((s, i) => ({ label: s.label, png: pngs[i], font: `${s.font} ${s.style}` }));
    return { drawn, typed };
  } finally {
    await browser.close();
  }
}

function toRaster(base64: string): RasterImage {
  const png = decode(Buffer.from(base64, 'base64'));
  return {
    width: png.width,
    height: png.height,
    channels: png.channels as RasterImage['channels'],
    data: png.data,
    maxValue: png.depth === 16 ? 65535 : 255,
  };
}

/** The drawn and typed sets (generated once per seed and cached; `writers` × 10 drawn digits). */
export async function browserSets(options: {
  seed: number;
  writers?: number;
  cacheDir?: string;
}): Promise<RobustnessSet[]> {
  const writers = options.writers ?? 40;
  const families = createHash('sha256').update(fontFamilies().join('\n')).digest('hex').slice(0, 8);
  const path = join(
    options.cacheDir ?? 'build/robustness',
    `browser-v${VERSION}-seed${options.seed}-w${writers}-fonts${families}.json`,
  );
  let data: Cached;
  if (existsSync(path)) data = JSON.parse(readFileSync(path, 'utf8')) as Cached;
  else {
    data = await generate(options.seed, writers);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(data));
  }
  const fonts = new Set(data.typed.map((t) => t.font.replace(/ (normal|bold|italic)$/, ''))).size;
  return [
    {
      name: 'drawn in the page',
      description: `${writers} writers × 10 digits drawn with the mouse on the page's <digit-pad> in Chromium`,
      overlap: 'held out',
      images: data.drawn.map((d) => toRaster(d.png)),
      labels: Uint8Array.from(data.drawn, (d) => d.label),
    },
    {
      name: 'typed (fonts)',
      description: `digits typed in ${fonts} font families (regular, bold, italic) on a canvas in Chromium`,
      overlap: 'held out',
      images: data.typed.map((d) => toRaster(d.png)),
      labels: Uint8Array.from(data.typed, (d) => d.label),
    },
  ];
}
