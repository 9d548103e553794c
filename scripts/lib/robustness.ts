/**
 * @module
 * The robustness table of `npm run eval-robustness`: labelled sets of pictures (MNIST test digits under each
 * corruption of `corruptions.ts`, plus sets made elsewhere, such as digits drawn and typed in Chromium), each
 * run through a model the way `/predict` would (JSON pixels for 28×28 pictures, with or without preprocessing;
 * the image upload path, always preprocessed, for larger ones), giving one row per set.
 *
 * Hooks for more columns and rows (calibration, not-a-digit): a `RowMetric` computes a column from the
 * probabilities of a row; a `RobustnessSet` whose `labels` is null (outlier pictures) gets the metrics but no
 * accuracy. No file system here.
 */
import {
  fromPixels,
  preprocess,
  resizeOnly,
  type Preparation,
  type RasterImage,
} from '../../src/data/preprocess.ts';
import { applyTemperature, judge, type VerdictPolicy } from '../../src/data/verdict.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { argmax, createPredictor, createRng } from '../../src/nn/index.ts';
import { preparationFor, type ModelData } from '../../src/format/index.ts';
import { expectedCalibrationError } from './calibrate.ts';
import { CORRUPTIONS, type Overlap } from './corruptions.ts';
import type { Examples } from './dataset.ts';

export interface RobustnessSet {
  name: string;
  description: string;
  overlap: Overlap | 'clean';
  images: RasterImage[];
  /** [images.length] classes, or null for pictures that are not digits (out-of-distribution rows). */
  labels: Uint8Array | null;
}

/** The first `limit` MNIST test digits (a seeded sample when fewer than all), under no corruption and under each. */
export function corruptionSets(test: Examples, options: { limit: number; seed: number }): RobustnessSet[] {
  const count = Math.min(options.limit, test.count);
  const pickRng = createRng(options.seed ^ 0x7e57);
  const chosen = Array.from({ length: test.count }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(pickRng() * (test.count - i));
    [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
  }
  const indices = chosen.slice(0, count);
  const digit = (i: number) => test.images.subarray(i * 784, (i + 1) * 784);
  const labels = Uint8Array.from(indices, (i) => test.labels[i]);
  const sets: RobustnessSet[] = [
    {
      name: 'clean',
      description: 'MNIST test digits as they are',
      overlap: 'clean',
      images: indices.map((i) => fromPixels(digit(i))),
      labels,
    },
  ];
  CORRUPTIONS.forEach((c, k) => {
    // Each corruption its own stream, far from the training seeds' (which are small integers xor constants).
    const rng = createRng((options.seed * 7919 + 0x9e3779b1 + k * 104729) >>> 0);
    sets.push({
      name: c.name,
      description: c.description,
      overlap: c.overlap,
      images: indices.map((i) => c.apply(digit(i), rng)),
      labels,
    });
  });
  return sets;
}

/**
 * How a picture becomes the network's input, as `/predict` would: `raw` = `preprocess: false` (JSON pixels as they
 * are; an upload plainly resized), `preprocess` = preprocessing for every picture, `served-before` = what the API
 * did by default before issue #12 (JSON pixels raw, uploads preprocessed).
 */
export type Pipeline = 'raw' | 'preprocess' | 'served-before';

/**
 * The network's [784] input for `image` through `pipeline` (null when preprocessing finds no ink: a 422),
 * preprocessed as `preparation` says (the model's recipe: `preparationFor(metadata, true)`).
 */
export function servedInput(
  image: RasterImage,
  pipeline: Pipeline,
  preparation: Preparation = {},
): Float32Array | null {
  const is28 = image.width === 28 && image.height === 28 && image.channels === 1;
  if (pipeline === 'raw' || (pipeline === 'served-before' && is28)) {
    return is28 ? Float32Array.from(image.data) : resizeOnly(image);
  }
  try {
    return preprocess(image, preparation);
  } catch {
    return null;
  }
}

/** A column computed from one row's outputs: `probs` [n×10], `labels` [n] or null, `answered[i]` false on a 422. */
export interface RowMetric {
  name: string;
  compute(probs: Float32Array, labels: Uint8Array | null, answered: boolean[]): string;
}

export interface ModelColumn {
  /** Column header, e.g. `old (raw)`. */
  name: string;
  model: ModelData;
  pipeline: Pipeline;
  /** Whether the row metrics are computed for this column too (default true). */
  metrics?: boolean;
}

export interface RowResult {
  set: RobustnessSet;
  /** Accuracy per column (a refused picture counts as wrong); null on an unlabelled row. */
  accuracy: (number | null)[];
  /** Per column, per picture: 1 when that column's answer is right; null on an unlabelled row. */
  right: (Uint8Array | null)[];
  /** Extra metrics per column, in the order given. */
  metrics: string[][];
}

/**
 * Runs every set through every column, probabilities calibrated by each model's temperature as `/predict`
 * serves them; `metrics` add columns (after each model's accuracy).
 */
export function evaluateRows(
  sets: RobustnessSet[],
  columns: ModelColumn[],
  kernels: Kernels,
  metrics: RowMetric[] = [],
): RowResult[] {
  const predictors = columns.map((c) => createPredictor(c.model, kernels));
  const rows = sets.map((set) => {
    const accuracy: (number | null)[] = [];
    const right: (Uint8Array | null)[] = [];
    const extra: string[][] = [];
    columns.forEach((column, k) => {
      const n = set.images.length;
      const x = new Float32Array(n * 784);
      const preparation = preparationFor(column.model.metadata, true) ?? {};
      const answered = set.images.map((image, i) => {
        const input = servedInput(image, column.pipeline, preparation);
        if (input) x.set(input, i * 784);
        return input !== null;
      });
      const probs = new Float32Array(n * 10);
      const chunk = 1000;
      for (let s = 0; s < n; s += chunk) {
        const m = Math.min(chunk, n - s);
        probs.set(predictors[k].predict(x.subarray(s * 784, (s + m) * 784), m), s * 10);
      }
      // Calibrated as /predict serves them (argmax unchanged), so the metrics see what a client sees.
      applyTemperature(probs, 10, column.model.metadata.calibration?.temperature ?? 1);
      if (set.labels) {
        const hits = new Uint8Array(n);
        let correct = 0;
        for (let i = 0; i < n; i++) {
          if (answered[i] && argmax(probs, i * 10, 10) === set.labels[i]) hits[i] = 1;
          correct += hits[i];
        }
        accuracy.push(correct / n);
        right.push(hits);
      } else {
        accuracy.push(null);
        right.push(null);
      }
      extra.push(
        column.metrics === false ? [] : metrics.map((metric) => metric.compute(probs, set.labels, answered)),
      );
    });
    return { set, accuracy, right, metrics: extra };
  });
  predictors.forEach((p) => p.dispose());
  return rows;
}

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);

/**
 * The Markdown table: one row per set, each column's accuracy (and metrics), then the mean over the corrupted
 * and extra rows (the clean row is shown but not averaged).
 */
export function renderTable(rows: RowResult[], columns: ModelColumn[], metrics: RowMetric[] = []): string {
  const shown = (c: ModelColumn) => (c.metrics === false ? [] : metrics);
  const heads = columns.flatMap((c) => [c.name, ...shown(c).map((m) => `${c.name} ${m.name}`)]);
  const lines = [
    `| set | n | overlap with training augmentation | ${heads.join(' | ')} |`,
    `| --- | --- | --- | ${heads.map(() => '---').join(' | ')} |`,
  ];
  for (const r of rows) {
    const cells = columns.flatMap((_, k) => [pct(r.accuracy[k]), ...r.metrics[k]]);
    lines.push(
      `| ${r.set.name}: ${r.set.description} | ${r.set.images.length} | ${r.set.overlap} | ${cells.join(' | ')} |`,
    );
  }
  const averaged = rows.filter((r) => r.set.overlap !== 'clean' && r.set.labels);
  const means = columns.flatMap((c, k) => [
    pct(averaged.reduce((s, r) => s + (r.accuracy[k] ?? 0), 0) / Math.max(1, averaged.length)),
    ...shown(c).map(() => ''),
  ]);
  lines.push(
    `| **mean of the ${averaged.length} non-clean rows** | | | ${means.map((m) => (m ? `**${m}**` : '')).join(' | ')} |`,
  );
  return lines.join('\n');
}

/** Expected calibration error (15 bins) of the answered pictures of a labelled row, as /predict calibrates them. */
export const ECE_METRIC: RowMetric = {
  name: 'ECE',
  compute(probs, labels, answered) {
    if (!labels) return '–';
    const keep = answered.flatMap((a, i) => (a ? [i] : []));
    const p = new Float32Array(keep.length * 10);
    keep.forEach((i, k) => p.set(probs.subarray(i * 10, i * 10 + 10), k * 10));
    return pct(
      expectedCalibrationError(
        p,
        keep.map((i) => labels[i]),
      ),
    );
  },
};

/**
 * The share of a row's pictures that the verdict does not answer with a confident digit (uncertain, not a digit,
 * or refused as blank), under `policy`; on a labelled row also the accuracy of the digits it does answer.
 */
export function flaggedMetric(policy: VerdictPolicy): RowMetric {
  return {
    name: 'flagged (accepted acc.)',
    compute(probs, labels, answered) {
      let flagged = 0;
      let accepted = 0;
      let right = 0;
      answered.forEach((a, i) => {
        const j = a ? judge(probs.subarray(i * 10, i * 10 + 10), policy) : null;
        if (!j || j.verdict !== 'confident') return void flagged++;
        accepted++;
        if (labels && j.digit === labels[i]) right++;
      });
      const share = pct(flagged / Math.max(1, answered.length));
      return labels ? `${share} (${pct(right / Math.max(1, accepted))})` : share;
    },
  };
}
