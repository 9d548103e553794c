/**
 * @module
 * Generated images that are not digits, for outlier exposure in training and for the not-a-digit benchmark:
 * scribbles, straight strokes, shapes, noise, blobs, Fashion-MNIST clothing and typed letters and signs
 * (`typed-digits.ts`' `TYPED_NON_DIGITS`) as training kinds, and letters,
 * symbols and doodles (held-out kinds that training never sees). Pen drawings are rendered on a 56×56 pad with
 * the page's stroke widths and then go through `preprocess`, as a drawing on the page does; noise and clothing
 * arrive either as they are (a JSON client) or preprocessed. Every image comes from a seeded stream. Near-blank
 * inputs (for the `blank` verdict) are here too. No file system here: the caller passes Fashion-MNIST pixels and
 * the typed pictures.
 */
import { preprocess, SIDE, type RasterImage } from '../../src/data/preprocess.ts';
import { createNormal, createRng } from '../../src/nn/index.ts';
import { DOODLES, LETTERS, SYMBOLS } from './glyphs.ts';
import { arc, InkCanvas, placeStrokes, type Point } from './raster.ts';

export const TRAIN_KINDS = [
  'scribble',
  'strokes',
  'lines',
  'shapes',
  'noise',
  'blobs',
  'fashion',
  'typed',
] as const;
/** Training kinds drawn from pictures the caller passes (Fashion-MNIST's; typed letters and signs). */
export const BANK_KINDS = ['fashion', 'typed'] as const;
const BANK_NAMES = { fashion: 'Fashion-MNIST images', typed: 'typed pictures' } as const;
export const HELD_OUT_KINDS = ['letters', 'symbols', 'doodles'] as const;
export type NegativeKind = (typeof TRAIN_KINDS)[number] | (typeof HELD_OUT_KINDS)[number];

export const BLANK_KINDS = [
  'empty',
  'white paper',
  'grey paper',
  'faint noise',
  'stray pixels',
  'dot',
] as const;
export type BlankKind = (typeof BLANK_KINDS)[number];

const PAD = 56;
const INPUT = SIDE * SIDE;

type Rng = () => number;

/** Pen width in pad pixels: the page draws with 1/14 of its side; people's pens vary around that. */
const penWidth = (rng: Rng) => PAD * (0.045 + rng() * 0.07);
const between = (rng: Rng, lo: number, hi: number) => lo + rng() * (hi - lo);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];

/** A smooth random walk: 1-3 strokes turning a little at every step. */
function scribble(c: InkCanvas, rng: Rng): void {
  const strokes = 1 + Math.floor(rng() * 3);
  const width = penWidth(rng);
  for (let s = 0; s < strokes; s++) {
    let x = between(rng, 0.2, 0.8) * PAD;
    let y = between(rng, 0.2, 0.8) * PAD;
    let heading = rng() * 2 * Math.PI;
    const turn = between(rng, 0.2, 1.4);
    const points: Point[] = [[x, y]];
    for (let i = 6 + Math.floor(rng() * 24); i > 0; i--) {
      heading += (rng() * 2 - 1) * turn;
      x = Math.min(PAD * 0.92, Math.max(PAD * 0.08, x + Math.cos(heading) * PAD * 0.09));
      y = Math.min(PAD * 0.92, Math.max(PAD * 0.08, y + Math.sin(heading) * PAD * 0.09));
      points.push([x, y]);
    }
    c.stroke(points, width);
  }
}

/**
 * 2-4 pen strokes, each a straight segment or an arc, wherever they fall: the parts letters and symbols are made of,
 * put together at random (no glyph table: the letters and symbols of the benchmark stay unseen).
 */
function strokes(c: InkCanvas, rng: Rng): void {
  const width = penWidth(rng);
  for (let n = 2 + Math.floor(rng() * 3); n > 0; n--) {
    const cx = between(rng, 0.25, 0.75);
    const cy = between(rng, 0.25, 0.75);
    let unit: Point[];
    if (rng() < 0.5) {
      const a = rng() * Math.PI;
      const r = between(rng, 0.12, 0.35);
      unit = [
        [cx - r * Math.cos(a), cy - r * Math.sin(a)],
        [cx + r * Math.cos(a), cy + r * Math.sin(a)],
      ];
    } else {
      const from = rng() * 2 * Math.PI;
      // Arcs of up to 3/4 of a turn: a whole ring would be a zero.
      unit = arc(
        cx,
        cy,
        between(rng, 0.1, 0.3),
        between(rng, 0.1, 0.3),
        from,
        from + between(rng, 1, 4.7),
        10,
      );
    }
    c.stroke(
      unit.map(([x, y]) => [x * PAD, y * PAD]),
      width,
    );
  }
}

/** 2-5 straight strokes anywhere (crosses, hashes, asterisks, zigzags), or one that is far from upright. */
function lines(c: InkCanvas, rng: Rng): void {
  const width = penWidth(rng);
  const n = rng() < 0.2 ? 1 : 2 + Math.floor(rng() * 4);
  for (let i = 0; i < n; i++) {
    // A lone stroke near the vertical is a "1": keep single strokes within 35° of the horizontal.
    const angle = n === 1 ? (rng() * 2 - 1) * 0.61 : rng() * Math.PI;
    const len = between(rng, 0.3, 0.8) * PAD;
    const cx = between(rng, 0.3, 0.7) * PAD;
    const cy = between(rng, 0.3, 0.7) * PAD;
    const dx = (Math.cos(angle) * len) / 2;
    const dy = (Math.sin(angle) * len) / 2;
    c.stroke(
      [
        [cx - dx, cy - dy],
        [cx + dx, cy + dy],
      ],
      width,
    );
  }
}

/** Outlined or filled polygons: rectangles, triangles, stars, diamonds, arrows, crosses. No ellipses (zeros). */
function shapes(c: InkCanvas, rng: Rng): void {
  const cx = PAD / 2 + between(rng, -4, 4);
  const cy = PAD / 2 + between(rng, -4, 4);
  const r = between(rng, 0.25, 0.4) * PAD;
  const rot = rng() * 2 * Math.PI;
  const polygon = (radii: number[]): Point[] =>
    radii.map((k, i) => {
      const t = rot + (i * 2 * Math.PI) / radii.length;
      return [cx + r * k * Math.cos(t), cy + r * k * Math.sin(t)];
    });
  const kind = pick(rng, ['rect', 'triangle', 'star', 'diamond', 'arrow', 'cross', 'polygon']);
  let points: Point[];
  if (kind === 'rect') {
    const w = r * between(rng, 0.6, 1);
    const h = r * between(rng, 0.6, 1);
    points = placeStrokes(
      [
        [
          [0, 0],
          [1, 0],
          [1, 1],
          [0, 1],
        ],
      ],
      PAD,
      rng,
    )[0].map(([x, y]) => [cx + ((x - PAD / 2) * w) / r, cy + ((y - PAD / 2) * h) / r]);
  } else if (kind === 'triangle') points = polygon([1, 1, 1]);
  else if (kind === 'star') points = polygon([1, 0.45, 1, 0.45, 1, 0.45, 1, 0.45, 1, 0.45]);
  else if (kind === 'diamond') points = polygon([1, 0.6, 1, 0.6]);
  else if (kind === 'cross') points = polygon([1, 0.35, 1, 0.35, 1, 0.35, 1, 0.35]);
  else if (kind === 'arrow') points = polygon([1, 0.5, 0.3, 0.3, 0.5]);
  else points = polygon(Array.from({ length: 5 + Math.floor(rng() * 4) }, () => between(rng, 0.5, 1)));
  if (rng() < 0.4) c.fillPolygon(points);
  else c.stroke([...points, points[0]], penWidth(rng));
}

/** 1-4 soft filled ellipses: smudges, thumbprints, a pen pressed too long. */
function blobs(c: InkCanvas, rng: Rng): void {
  for (let n = 1 + Math.floor(rng() * 4); n > 0; n--) {
    c.fillEllipse(
      between(rng, 0.25, 0.75) * PAD,
      between(rng, 0.25, 0.75) * PAD,
      between(rng, 0.05, 0.25) * PAD,
      between(rng, 0.05, 0.25) * PAD,
      rng() * Math.PI,
      between(rng, 1, 6),
    );
  }
}

/** A glyph from one of the held-out tables, jittered like a person's hand. */
function glyph(table: Record<string, Point[][]>) {
  const names = Object.keys(table);
  return (c: InkCanvas, rng: Rng) => {
    const width = penWidth(rng);
    for (const stroke of placeStrokes(table[pick(rng, names)], PAD, rng)) c.stroke(stroke, width);
  };
}

const DRAWN: Partial<Record<NegativeKind, (c: InkCanvas, rng: Rng) => void>> = {
  scribble,
  strokes,
  lines,
  shapes,
  blobs,
  letters: glyph(LETTERS),
  symbols: glyph(SYMBOLS),
  doodles: glyph(DOODLES),
};

/** 28×28 noise: uniform, sparse speckle, or smoothed, at a random level. */
function noise(out: Float32Array, rng: Rng, normal: () => number): void {
  const style = Math.floor(rng() * 3);
  const level = between(rng, 0.3, 1);
  const density = between(rng, 0.05, 0.6);
  for (let i = 0; i < INPUT; i++) {
    if (style === 0) out[i] = rng() * level;
    else if (style === 1) out[i] = rng() < density ? level : 0;
    else out[i] = Math.abs(normal()) * level * 0.5;
  }
  if (style === 2) {
    // A 3×3 box blur: blotchy rather than salt-and-pepper.
    const src = out.slice();
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        let s = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = Math.min(SIDE - 1, Math.max(0, y + dy));
            const xx = Math.min(SIDE - 1, Math.max(0, x + dx));
            s += src[yy * SIDE + xx];
          }
        out[y * SIDE + x] = Math.min(1, (s / 9) * 2);
      }
    }
  }
}

const asRaster = (data: Float32Array, side: number): RasterImage => ({
  width: side,
  height: side,
  channels: 1,
  data,
  maxValue: 1,
});

export interface NegativeOptions {
  seed: number;
  kinds: readonly NegativeKind[];
  /** Fashion-MNIST images [count×784] in [0, 1], needed when `kinds` has `fashion`. */
  fashion?: Float32Array;
  /** Typed non-digits [count×784] in [0, 1] (`renderTypedGlyphs`), needed when `kinds` has `typed`. */
  typed?: Float32Array;
}

/** An endless seeded stream of non-digit network inputs (28×28 in [0, 1]) of the given kinds, in turn at random. */
export class NegativeSource {
  private readonly rng: Rng;
  private readonly normal: () => number;
  private readonly banks: Record<(typeof BANK_KINDS)[number], Float32Array | undefined>;

  constructor(private readonly options: NegativeOptions) {
    if (options.kinds.length === 0) throw new RangeError('no kinds of negatives to draw');
    this.rng = createRng(options.seed ^ 0x0e60);
    this.normal = createNormal(this.rng);
    this.banks = { fashion: options.fashion, typed: options.typed };
    for (const kind of BANK_KINDS) {
      if (options.kinds.includes(kind) && !this.banks[kind]?.length)
        throw new RangeError(`the \`${kind}\` kind needs ${BANK_NAMES[kind]} (options.${kind})`);
    }
  }

  /** Writes one negative of a random kind (or `kind`) into `out` [784]; returns its kind. */
  next(out: Float32Array, kind: NegativeKind = pick(this.rng, this.options.kinds)): NegativeKind {
    const { rng } = this;
    const draw = DRAWN[kind];
    if (draw) {
      for (;;) {
        const canvas = new InkCanvas(PAD);
        draw(canvas, rng);
        const input = tryPreprocess(asRaster(canvas.data, PAD));
        if (input) {
          out.set(input);
          return kind;
        }
      }
    }
    const raw = out.subarray(0, INPUT);
    if (kind === 'noise') noise(raw, rng, this.normal);
    else {
      const bank = this.banks[kind as (typeof BANK_KINDS)[number]]!;
      const i = Math.floor(rng() * (bank.length / INPUT));
      raw.set(bank.subarray(i * INPUT, (i + 1) * INPUT));
    }
    // Half arrive as they are (a JSON client), half through the page's preprocessing.
    if (rng() < 0.5) {
      const input = tryPreprocess(asRaster(raw.slice(), SIDE));
      if (input) raw.set(input);
    }
    return kind;
  }

  /** `count` negatives of one kind, [count×784]. */
  batch(kind: NegativeKind, count: number): Float32Array {
    const x = new Float32Array(count * INPUT);
    for (let i = 0; i < count; i++) this.next(x.subarray(i * INPUT, (i + 1) * INPUT), kind);
    return x;
  }
}

function tryPreprocess(image: RasterImage): Float32Array | null {
  try {
    return preprocess(image);
  } catch {
    return null;
  }
}

/**
 * `count` seeded near-blank pictures of one kind, as they would reach the API (before preprocessing): an empty
 * canvas, white or grey paper, faint noise below the ink floor, a few stray pixels, a pen tap.
 */
export function makeBlanks(kind: BlankKind, count: number, seed: number): RasterImage[] {
  const rng = createRng(seed ^ 0xb1a);
  return Array.from({ length: count }, () => {
    if (kind === 'dot') {
      const c = new InkCanvas(PAD * 4);
      const side = PAD * 4;
      c.stroke([[between(rng, 0.1, 0.9) * side, between(rng, 0.1, 0.9) * side]], side / 14);
      // Dark on white, as the pad sends it.
      return {
        ...asRaster(
          c.data.map((v) => 1 - v),
          side,
        ),
      };
    }
    const data = new Float32Array(INPUT);
    if (kind === 'white paper') data.fill(1);
    else if (kind === 'grey paper') data.fill(between(rng, 0.2, 0.8));
    else if (kind === 'faint noise') for (let i = 0; i < INPUT; i++) data[i] = rng() * 0.09;
    else if (kind === 'stray pixels') {
      for (let n = 1 + Math.floor(rng() * 3); n > 0; n--)
        data[Math.floor(rng() * INPUT)] = between(rng, 0.3, 1);
    }
    return asRaster(data, SIDE);
  });
}
