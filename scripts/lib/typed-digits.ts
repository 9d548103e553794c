/**
 * @module
 * Typed digits for training (issue #12): the ten digits rendered in the fonts of the `@fontsource/*` dev
 * dependencies (Google Fonts' families: sans, serif, slab and monospace; every weight from 300 and style each
 * ships), with Skia (`@napi-rs/canvas`), as 28×28 images in MNIST's polarity. They join the training split and
 * then go through the same augmentation and preparation as MNIST's digits.
 *
 * The robustness benchmark's typed row renders the fonts the machine has (fontconfig: DejaVu, Liberation,
 * URW, GNU FreeFont) in Chromium; none of those designs, nor their metric twins (Arimo, Tinos, Cousine), may
 * be trained on, so `EVAL_FAMILIES` refuses them here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '../../src/nn/index.ts';
import type { Examples } from './dataset.ts';

/** Where npm puts the font packages. */
export const FONTSOURCE_DIR = resolve(fileURLToPath(import.meta.url), '../../../node_modules/@fontsource');

/**
 * The lightest weight used: at 100-200 a 20-pixel glyph's strokes are under a pixel wide, grey after
 * anti-aliasing (peak ink 0.4-0.9), unlike any pen.
 */
export const MIN_WEIGHT = 300;

/** Families (lower case, dashes) that the typed row measures on, or that share its designs. */
export const EVAL_FAMILIES =
  /dejavu|liberation|arimo|tinos|cousine|nimbus|urw|^free|bitstream|vera|c059|p052|z003|gyre/;

export interface FontFace {
  /** The package's name without the scope, e.g. `roboto-slab`. */
  family: string;
  /** The latin-subset WOFF2 file. */
  file: string;
  weight: number;
  style: 'normal' | 'italic';
}

/**
 * Every latin face of weight `MIN_WEIGHT` or more of every installed `@fontsource` package, sorted, families the benchmark measures on left
 * out (so a stray install cannot leak them into training). Empty when none are installed.
 */
export function fontFaces(dir = FONTSOURCE_DIR): FontFace[] {
  let families: string[];
  try {
    families = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const faces: FontFace[] = [];
  for (const family of families) {
    if (EVAL_FAMILIES.test(family)) continue;
    let files: string[];
    try {
      files = readdirSync(join(dir, family, 'files')).sort();
    } catch {
      continue;
    }
    const pattern = new RegExp(`^${family}-latin-(\\d+)-(normal|italic)\\.woff2$`);
    for (const name of files) {
      const m = pattern.exec(name);
      if (m && Number(m[1]) >= MIN_WEIGHT)
        faces.push({
          family,
          file: join(dir, family, 'files', name),
          weight: Number(m[1]),
          style: m[2] as FontFace['style'],
        });
    }
  }
  return faces;
}

/** A family name as the font packages spell it: lower case, dashes (`Noto Sans` → `noto-sans`). */
const packageName = (family: string) => family.trim().toLowerCase().replace(/\s+/g, '-');

/**
 * Whether training types digits in `family` (a name as fontconfig or a package gives it). The typed row of the
 * robustness benchmark leaves such families out, so it measures on other designs whatever fonts a machine has;
 * `EVAL_FAMILIES` covers the other direction, the metric twins of this machine's fonts.
 */
export function isTrainingFamily(family: string, faces: readonly FontFace[] = fontFaces()): boolean {
  const name = packageName(family);
  return faces.some((face) => face.family === name);
}

/** What `renderTypedDigits` made, for the log and the card. */
export interface TypedDigits extends Examples {
  families: number;
  faces: number;
}

const SIDE = 28;
/** Rendered at 4× and averaged down, as MNIST's digits were anti-aliased. */
const UP = 4;
const BIG = SIDE * UP;

/** Font files already handed to Skia (once per process), and the alias each was given. */
const registered = new Map<string, string>();

type Canvas = typeof import('@napi-rs/canvas');

function loadCanvas(): Canvas {
  // A dev dependency with a native binary: loaded only when typed digits are asked for.
  return createRequire(import.meta.url)('@napi-rs/canvas') as Canvas;
}

/**
 * Typed characters that are not digits, for outlier exposure (issue #13): letters and signs no reader takes for
 * a digit (no O, I, l, S, Z, B, G, g, q, b, p, /, ( or $), and none of the letters and symbols that
 * `eval-ood`'s held-out kinds draw (`glyphs.ts`: A E F H K M N R W X Y e h k m r w x, # % = @ ~ ÷ * &), so
 * those stay unseen.
 */
export const TYPED_NON_DIGITS = 'CJLPUVacdfntuv?!<>^€£';

/**
 * `count` digits (labels cycling 0-9), each in a face drawn at random, family first so that a family with
 * nine weights counts as much as one with one; glyph height 55-80% of the frame, anywhere it fits (the
 * preparation re-centres it). Seeded: the same seed and fonts give the same images.
 * @throws {Error} when no font package is installed (`npm ci` installs them) or a face cannot be loaded.
 */
export function renderTypedDigits(count: number, seed: number, faces = fontFaces()): TypedDigits {
  return renderTypedGlyphs('0123456789', count, seed, faces);
}

/**
 * `count` 28×28 pictures of the characters of `chars` in turn (`labels`: each one's index in `chars`), typed
 * as `renderTypedDigits` types digits.
 */
export function renderTypedGlyphs(
  chars: string,
  count: number,
  seed: number,
  faces = fontFaces(),
): TypedDigits {
  if (faces.length === 0)
    throw new Error(
      `no @fontsource fonts under ${FONTSOURCE_DIR} (npm ci installs them): cannot render typed digits`,
    );
  const glyphs = [...chars];
  const { createCanvas, GlobalFonts } = loadCanvas();
  const byFamily = new Map<string, string[]>();
  for (const face of faces) {
    let alias = registered.get(face.file);
    if (alias === undefined) {
      alias = `edge-mlp-typed-${registered.size}`;
      if (!GlobalFonts.register(readFileSync(face.file), alias))
        throw new Error(`${face.file}: Skia could not load this font`);
      registered.set(face.file, alias);
    }
    const font = `${face.style === 'italic' ? 'italic ' : ''}${face.weight} ${'%'}px "${alias}"`;
    byFamily.set(face.family, [...(byFamily.get(face.family) ?? []), font]);
  }
  const families = [...byFamily.values()];
  const rng = createRng(seed ^ 0x7e9ed);
  const canvas = createCanvas(BIG, BIG);
  const g = canvas.getContext('2d');
  const images = new Float32Array(count * SIDE * SIDE);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % glyphs.length;
    const text = glyphs[label];
    const fonts = families[Math.floor(rng() * families.length)];
    const font = fonts[Math.floor(rng() * fonts.length)];
    const height = BIG * (0.55 + 0.25 * rng());
    g.fillStyle = '#000';
    g.fillRect(0, 0, BIG, BIG);
    // Size the font so the glyph's ink is `height` tall, then place its ink box at random inside the frame.
    g.font = font.replace('%', '100');
    const probe = g.measureText(text);
    const inkHeight = probe.actualBoundingBoxAscent + probe.actualBoundingBoxDescent;
    const px = Math.min((100 * height) / Math.max(1, inkHeight), 100 * (BIG / Math.max(1, probe.width)));
    g.font = font.replace('%', px.toFixed(2));
    const m = g.measureText(text);
    const w = m.actualBoundingBoxLeft + m.actualBoundingBoxRight;
    const h = m.actualBoundingBoxAscent + m.actualBoundingBoxDescent;
    const x = Math.max(0, BIG - w) * rng() + m.actualBoundingBoxLeft;
    const y = Math.max(0, BIG - h) * rng() + m.actualBoundingBoxAscent;
    g.fillStyle = '#fff';
    g.fillText(text, x, y);
    downsample(g.getImageData(0, 0, BIG, BIG).data, images.subarray(i * SIDE * SIDE));
    labels[i] = label;
  }
  return { count, images, labels, families: families.length, faces: faces.length };
}

/** The red channel of a `BIG`×`BIG` RGBA picture averaged over 4×4 blocks, scaled to [0,1]. */
function downsample(rgba: Uint8ClampedArray, dst: Float32Array): void {
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let sum = 0;
      for (let dy = 0; dy < UP; dy++) {
        const row = ((y * UP + dy) * BIG + x * UP) * 4;
        for (let dx = 0; dx < UP; dx++) sum += rgba[row + dx * 4];
      }
      dst[y * SIDE + x] = sum / (UP * UP * 255);
    }
  }
}
