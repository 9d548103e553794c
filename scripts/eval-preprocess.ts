/**
 * @module
 * `npx tsx scripts/eval-preprocess.ts [--model models/default.bin] [--limit 10000] [--seed 1]`: what MNIST-style
 * preprocessing buys. Accuracy with and without it on MNIST test digits changed the way canvas drawings differ
 * (shifted, shrunk, thickened, drawn large and dark on a light canvas). Prints a Markdown table. Not a trainer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIdxImages, parseIdxLabels } from '../src/data/idx.ts';
import { preprocess, resample, resizeOnly, SIDE, type RasterImage } from '../src/data/preprocess.ts';
import { decodeModel } from '../src/format/index.ts';
import { argmax, createPredictor, createRng, DIGIT_CLASSES, INPUT_SIZE } from '../src/nn/index.ts';
import { IDX_FILES, MNIST_DIR, readMaybeGzip } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';

const argv = process.argv.slice(2);
const at = (flag: string, fallback: string) =>
  argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : fallback;
const modelPath = at('--model', 'models/default.bin');
const limit = Number(at('--limit', '10000'));
const rng = createRng(Number(at('--seed', '1')));
const randInt = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const uniform = (lo: number, hi: number) => lo + rng() * (hi - lo);

type Image28 = Float32Array;

/** Bounding box of the ink (> 0) of a 28×28 image. */
function bbox(img: Image28) {
  let x0 = SIDE;
  let y0 = SIDE;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      if (img[y * SIDE + x] <= 0) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  return { x0, y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

function crop(img: Image28, b: ReturnType<typeof bbox>): Float32Array {
  const out = new Float32Array(b.w * b.h);
  for (let y = 0; y < b.h; y++)
    out.set(img.subarray((b.y0 + y) * SIDE + b.x0, (b.y0 + y) * SIDE + b.x0 + b.w), y * b.w);
  return out;
}

/** Pastes `patch` [h×w] into a blank `side`×`side` image at (x, y). */
function paste(patch: Float32Array, w: number, h: number, side: number, x: number, y: number): Float32Array {
  const out = new Float32Array(side * side);
  for (let r = 0; r < h; r++) out.set(patch.subarray(r * w, (r + 1) * w), (y + r) * side + x);
  return out;
}

/** Moves the digit by up to ±6 pixels each way, staying inside the frame. */
function shifted(img: Image28): Image28 {
  const b = bbox(img);
  const x = Math.min(SIDE - b.w, Math.max(0, b.x0 + randInt(-6, 6)));
  const y = Math.min(SIDE - b.h, Math.max(0, b.y0 + randInt(-6, 6)));
  return paste(crop(img, b), b.w, b.h, SIDE, x, y);
}

/** Shrinks the digit to 45-75% and puts it anywhere in the frame (a small drawing in a corner). */
function shrunk(img: Image28): Image28 {
  const b = bbox(img);
  const s = uniform(0.45, 0.75);
  const w = Math.max(1, Math.round(b.w * s));
  const h = Math.max(1, Math.round(b.h * s));
  return paste(
    resample(crop(img, b), b.w, b.h, w, h),
    w,
    h,
    SIDE,
    randInt(0, SIDE - w),
    randInt(0, SIDE - h),
  );
}

/** Thicker strokes (a 3×3 max filter): a wide brush. */
function dilate(src: Float32Array, side: number, radius = 1): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let m = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy >= 0 && yy < side && xx >= 0 && xx < side) m = Math.max(m, src[yy * side + xx]);
        }
      }
      out[y * side + x] = m;
    }
  }
  return out;
}

/**
 * The digit as a 280×280 canvas drawing: black on white, 35-90% of the canvas high, anywhere on it, strokes
 * thickened by 0-2 canvas pixels, as grey bytes: the way a PNG of the page's canvas arrives.
 */
function canvas(img: Image28): RasterImage {
  const side = 280;
  const b = bbox(img);
  const h = Math.round(side * uniform(0.35, 0.9));
  const w = Math.max(1, Math.min(side, Math.round((b.w * h) / b.h)));
  let ink = paste(
    resample(crop(img, b), b.w, b.h, w, h),
    w,
    h,
    side,
    randInt(0, side - w),
    randInt(0, side - h),
  );
  ink = dilate(ink, side, randInt(0, 2));
  return {
    width: side,
    height: side,
    channels: 1,
    data: Uint8Array.from(ink, (v) => 255 - Math.round(v * 255)),
    maxValue: 255,
  };
}

const asRaster = (img: Image28): RasterImage => ({
  width: SIDE,
  height: SIDE,
  channels: 1,
  data: img,
  maxValue: 1,
});
const inverted = (r: RasterImage): RasterImage => ({ ...r, data: Array.from(r.data, (v) => r.maxValue - v) });

const images = parseIdxImages(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testImages)));
const labels = parseIdxLabels(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testLabels))).labels;
const count = Math.min(limit, images.count);
const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
const model = decodeModel(new Uint8Array(readFileSync(modelPath)));
const predictor = createPredictor(model, kernels);

/**
 * Accuracy of the model under each pipeline: `make(i)` builds digit i once (seeded, so the pipelines see the same
 * picture) and returns one input per pipeline, or null for a pipeline that cannot read it (counted as wrong).
 */
function accuracies(make: (i: number) => (Float32Array | null)[]): number[] {
  const batch = 250;
  let correct: number[] = [];
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const inputs = Array.from({ length: n }, (_, i) => make(start + i));
    const modes = inputs[0].length;
    if (correct.length === 0) correct = new Array<number>(modes).fill(0);
    for (let m = 0; m < modes; m++) {
      const x = new Float32Array(n * INPUT_SIZE);
      inputs.forEach((input, i) => input[m] && x.set(input[m]!, i * INPUT_SIZE));
      const probs = predictor.predict(x, n);
      for (let i = 0; i < n; i++) {
        const digit = argmax(probs, i * DIGIT_CLASSES, DIGIT_CLASSES);
        if (inputs[i][m] && digit === labels[start + i]) correct[m]++;
      }
    }
  }
  return correct.map((c) => c / count);
}

/** The input `preprocess` makes, or null when it refuses the picture (no ink). */
function prepared(image: RasterImage): Float32Array | null {
  try {
    return preprocess(image);
  } catch {
    return null;
  }
}

const original = (i: number): Image28 =>
  Float32Array.from(images.pixels.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE), (v) => v / 255);

const sets28: [string, (img: Image28) => Image28][] = [
  ['MNIST test, unchanged', (img) => img],
  ['shifted ±6 px', shifted],
  ['shrunk to 45-75%, anywhere', shrunk],
  ['thick strokes (3×3 dilation)', (img) => dilate(img, SIDE)],
  ['shifted + thick', (img) => dilate(shifted(img), SIDE)],
];

const pct = (a: number) => `${(a * 100).toFixed(2)}%`;
console.log(
  `Model ${modelPath} (${model.sizes.join('-')}, ${model.encoding}); ${count} MNIST test digits per row.\n`,
);
console.log('| input | without preprocessing | with preprocessing |');
console.log('| --- | --- | --- |');
for (const [name, transform] of sets28) {
  const [raw, pre] = accuracies((i) => {
    const img = transform(original(i));
    return [img, prepared(asRaster(img))];
  });
  console.log(`| ${name} | ${pct(raw)} | ${pct(pre)} |`);
}
const [canvasRaw, canvasInv, canvasPre] = accuracies((i) => {
  const drawing = canvas(original(i));
  return [resizeOnly(drawing), resizeOnly(inverted(drawing)), prepared(drawing)];
});
console.log(
  `| 280×280 canvas, dark on light, 35-90% high, anywhere | ${pct(canvasRaw)} (${pct(canvasInv)} inverted) | ${pct(canvasPre)} |`,
);
predictor.dispose();
await kernels.dispose();
