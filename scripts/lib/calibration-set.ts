/**
 * @module
 * The images a temperature is fitted on (`npm run train -- --calibrate-on`): the validation split as it is
 * (`clean`), the validation split passed through the training augmentation with a stream of its own
 * (`augmented`: digits as users send them, not as MNIST stores them), or both (`mixed`: every validation image
 * once clean and once augmented). Never the benchmark's corruptions (`corruptions.ts`): those only measure.
 * Each image is then prepared as `/predict` prepares it when the model is trained on prepared images.
 * No file system here.
 */
import { Augmenter, type AugmentConfig } from './augment.ts';
import { prepareExamples, prepareInto } from './batches.ts';
import { appendExamples, type Examples } from './dataset.ts';

export const CALIBRATE_ON = ['clean', 'augmented', 'mixed'] as const;
export type CalibrateOn = (typeof CALIBRATE_ON)[number];

/** Xor'd into the training seed for the calibration augmentation, so it never replays a training draw. */
export const CALIBRATION_STREAM = 0xca1b;

/** What the calibration set needs of a model's recipe (the training flags, or a blob's `metadata.training`). */
export interface CalibrationRecipe {
  seed: number;
  preprocess: boolean;
  /** With `preprocess`: the slant straightened too (`training.deskew`). */
  deskew?: boolean;
  /** The training augmentation; null for a recipe without one (then only `clean` can be asked for). */
  augmentation: AugmentConfig | null;
}

/**
 * The calibration set for `on`, from the *raw* (unprepared) validation examples [count×28·28]. `augmented` and
 * `mixed` draw from `seed ^ CALIBRATION_STREAM` (or `stream` when given), so the set is reproducible.
 */
export function calibrationSet(
  rawValidation: Examples,
  on: CalibrateOn,
  recipe: CalibrationRecipe,
  stream = recipe.seed ^ CALIBRATION_STREAM,
): Examples {
  const clean = () =>
    recipe.preprocess ? prepareExamples(rawValidation, { deskew: recipe.deskew }) : rawValidation;
  if (on === 'clean') return clean();
  if (!recipe.augmentation) throw new Error(`--calibrate-on ${on} needs a recipe with augmentation`);
  const augmented = augmentExamples(rawValidation, { ...recipe, augmentation: recipe.augmentation }, stream);
  if (on === 'augmented') return augmented;
  return appendExamples(clean(), augmented);
}

/** Each example once through the augmentation (one fresh draw), then prepared when the recipe prepares. */
function augmentExamples(
  raw: Examples,
  recipe: CalibrationRecipe & { augmentation: AugmentConfig },
  stream: number,
): Examples {
  const size = raw.images.length / Math.max(1, raw.count);
  const side = Math.round(Math.sqrt(size));
  if (side * side !== size) throw new Error(`augmentation needs square images, not ${size} pixels`);
  const augmenter = new Augmenter(recipe.augmentation, stream, side);
  const images = new Float32Array(raw.images.length);
  const scratch = new Float32Array(size);
  for (let i = 0; i < raw.count; i++) {
    const dst = images.subarray(i * size, (i + 1) * size);
    augmenter.apply(raw.images.subarray(i * size, (i + 1) * size), recipe.preprocess ? scratch : dst);
    if (recipe.preprocess) prepareInto(scratch, dst, { deskew: recipe.deskew });
  }
  return { count: raw.count, images, labels: raw.labels };
}

const AUGMENT_KEYS = [
  'rotate',
  'scale',
  'shear',
  'shift',
  'elastic',
  'elasticAlpha',
  'thickness',
  'blur',
  'lowres',
  'clean',
] as const satisfies readonly (keyof AugmentConfig)[];

/**
 * The recipe a blob was trained by, read from its `metadata.training` (as `npm run train` writes it); null when
 * the metadata lacks the seed. Its augmentation is null when the model was trained without `--augment`.
 */
export function recipeOf(training: unknown): CalibrationRecipe | null {
  if (!training || typeof training !== 'object') return null;
  const t = training as Record<string, unknown>;
  if (typeof t.seed !== 'number') return null;
  let augmentation: AugmentConfig | null = null;
  if (t.augment === true && AUGMENT_KEYS.every((key) => typeof t[key] === 'number')) {
    augmentation = Object.fromEntries(AUGMENT_KEYS.map((key) => [key, t[key]])) as unknown as AugmentConfig;
  }
  return { seed: t.seed, preprocess: t.preprocess === true, deskew: t.deskew === true, augmentation };
}
