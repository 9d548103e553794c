/**
 * @module
 * The zod schemas of the requests and responses (`/fine-tune`'s are in `fine-tune-schemas.ts`): they validate
 * requests and generate `/openapi.json`.
 * Not handlers. Hard maxima live here; `wrangler.toml` vars may only lower them (see `config.ts`).
 */
import { z } from '@hono/zod-openapi';
import { DIGIT_CLASSES, IMAGE_SIDE, INPUT_SIZE } from '../nn/classify.ts';

/** Most images one `/predict` call may carry. */
export const MAX_PREDICT_BATCH = 256;
/** Most labelled examples one `/fine-tune` call may carry. */
export const MAX_EXAMPLES = 256;
/** Most SGD steps one `/fine-tune` call may run. */
export const MAX_STEPS = 100;
export const MAX_LEARNING_RATE = 1;
export const MAX_DECAY = 0.01;

const PIXELS = INPUT_SIZE;

export const PixelScale = z.enum(['0-255', '0-1']).openapi({
  description:
    'The scale of every pixel in this request: `0-255` (MNIST bytes, 0 = background) or `0-1` (already divided ' +
    'by 255). Values outside the declared scale are rejected, never guessed.',
  example: '0-255',
});
export type PixelScaleValue = z.infer<typeof PixelScale>;

/**
 * The scale of a request that declares none: `0-255` when any pixel is above 1, else `0-1`. (An image whose
 * pixels are all 0 or 1 reads the same either way up to a factor the network sees as faint ink.)
 */
export function inferPixelScale(images: readonly unknown[]): PixelScaleValue {
  for (const image of images) {
    if (Array.isArray(image) && firstPixel(image, (v) => typeof v === 'number' && v > 1) >= 0) return '0-255';
  }
  return '0-1';
}

/**
 * The index, in the image's values read as one list (rows joined; an element that is not a row counts as one
 * value), of the first value that passes `test`; -1 when none does. A loop rather than `Array.prototype.flat()`,
 * which took ~60 µs for 784 numbers in V8 11.3 (more than the network's inference), or a joined copy.
 */
function firstPixel(image: readonly unknown[], test: (v: unknown) => boolean): number {
  let at = 0;
  for (let i = 0; i < image.length; i++) {
    const row = image[i];
    if (!Array.isArray(row)) {
      if (test(row)) return at;
      at++;
      continue;
    }
    for (let j = 0; j < row.length; j++, at++) if (test(row[j])) return at;
  }
  return -1;
}

/** The value at index `at` of the image's values read as one list (as `firstPixel` counts). */
function pixelAt(image: readonly unknown[], at: number): unknown {
  for (const row of image) {
    const size = Array.isArray(row) ? row.length : 1;
    if (at < size) return Array.isArray(row) ? row[at] : row;
    at -= size;
  }
  return undefined;
}

const Pixel = z.number();
export const Image = z
  .union([z.array(Pixel).length(PIXELS), z.array(z.array(Pixel).length(IMAGE_SIDE)).length(IMAGE_SIDE)], {
    error: 'an image is 784 numbers or 28 rows of 28 numbers',
  })
  .openapi({ description: 'One 28×28 grey image: 784 numbers row-major, or 28 rows of 28.' });

/** Flattens a validated image into 784 numbers. */
export function flatImage(image: z.infer<typeof Image>): number[] {
  // Validated: all numbers, or all rows of numbers.
  if (!Array.isArray(image[0])) return image as number[];
  const out: number[] = [];
  for (const row of image as number[][]) for (const v of row) out.push(v);
  return out;
}

/**
 * Adds an issue for the first pixel outside the declared scale. Runs even when other checks failed, so it
 * skips whatever is not shaped like an image (those already have their issue).
 */
export function checkScale(
  images: { image: unknown; path: (string | number)[] }[],
  scale: unknown,
  ctx: z.RefinementCtx,
  inferred = false,
): void {
  if (scale !== '0-255' && scale !== '0-1') return;
  const max = scale === '0-255' ? 255 : 1;
  for (const { image, path } of images) {
    if (!Array.isArray(image)) continue;
    const i = firstPixel(image, (v) => typeof v === 'number' && !(v >= 0 && v <= max));
    if (i >= 0) {
      const at = Array.isArray(image[0]) ? [Math.floor(i / IMAGE_SIDE), i % IMAGE_SIDE] : [i];
      ctx.addIssue({
        code: 'custom',
        path: [...path, ...at],
        message: `pixel ${pixelAt(image, i)} is outside the ${inferred ? 'inferred' : 'declared'} pixelScale ${scale} (allowed 0..${max})`,
      });
      return;
    }
  }
}

export const PredictQuery = z.object({
  version: z.string().min(1).max(100).optional().openapi({
    description: 'Answer from this stored version instead of the current one (404 unknown, 422 unservable).',
  }),
});

/**
 * `/predict`'s JSON body. The route puts a hand-checked path for the common body in front of it
 * (`withFastPath` in `fast-predict-request.ts`).
 */
export const PredictRequest = z
  .object({
    pixelScale: PixelScale.optional().openapi({
      description:
        'Optional here (required by `/fine-tune`): `0-255` or `0-1`. When absent it is inferred, `0-255` if any ' +
        'pixel is above 1, else `0-1`, and the answer says so (`pixelScaleInferred: true`). When present, pixels ' +
        'outside it are a 400.',
    }),
    image: Image.optional(),
    images: z
      .array(Image)
      .min(1)
      .max(MAX_PREDICT_BATCH)
      .optional()
      .openapi({
        description: `A batch of 1..${MAX_PREDICT_BATCH} images (the deployment may set a lower PREDICT_MAX_BATCH).`,
      }),
    minConfidence: z
      .number()
      .gt(0)
      .lte(1)
      .optional()
      .openapi({
        description:
          "The calibrated probability a digit needs for the verdict `confident`, in (0, 1]; the deployment's " +
          'MIN_CONFIDENCE (0.9) when absent. Uploads take it as a query or form field.',
      }),
    preprocess: z
      .boolean()
      .optional()
      .openapi({
        description:
          'Prepare each image the way the model was trained (crop to the ink, straighten its slant when the ' +
          'recipe deskewed (`metadata.training.deskew`), fit 20×20, centre of mass at the centre, dark-on-light ' +
          'inverted). When absent, it follows the model: on for a model trained on ' +
          'prepared images (`metadata.training.preprocess`, the default recipe), off otherwise. Always on for ' +
          'uploaded images unless `preprocess=false`.',
      }),
  })
  .strict()
  .superRefine((v: { pixelScale?: unknown; image?: unknown; images?: unknown }, ctx) => {
    // Typed loosely: zod may run this on a value whose other checks failed.
    if ((v.image === undefined) === (v.images === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'send exactly one of `image` or `images`' });
      return;
    }
    const list = Array.isArray(v.images)
      ? v.images.map((image: unknown, i) => ({ image, path: ['images', i] }))
      : [{ image: v.image, path: ['image'] }];
    const scale = v.pixelScale ?? inferPixelScale(list.map((item) => item.image));
    checkScale(list, scale, ctx, v.pixelScale === undefined);
  })
  .openapi('PredictRequest');

export const Prediction = z
  .object({
    verdict: z.enum(['confident', 'uncertain', 'not_a_digit', 'blank']).openapi({
      description:
        'Whether to trust the answer: `confident` (at least minConfidence and clear of the runner-up), ' +
        '`uncertain` (a digit, but not sure which), `not_a_digit` (the model sees no digit), `blank` (no ink). ' +
        'Only a `confident` digit should be used as the value of a form field.',
    }),
    digit: z
      .number()
      .int()
      .min(0)
      .max(9)
      .nullable()
      .openapi({ description: 'The most probable digit, whatever the verdict; null for `blank`.' }),
    confidence: z
      .number()
      .nullable()
      .openapi({ description: 'The calibrated probability of `digit`; null for `blank`.' }),
    probabilities: z
      .array(z.number())
      .length(DIGIT_CLASSES)
      .nullable()
      .openapi({ description: 'Calibrated probabilities of the digits 0..9; null for `blank`.' }),
  })
  .openapi('Prediction');

const ScaleUsed = {
  pixelScale: PixelScale.openapi({ description: 'The scale the pixels were read in, declared or inferred.' }),
  pixelScaleInferred: z.boolean().openapi({ description: 'True when the request declared no `pixelScale`.' }),
};

export const ImagePrediction = Prediction.extend({
  modelVersion: z.string(),
  preprocessed: z.boolean(),
  source: z.object({ width: z.number().int(), height: z.number().int() }),
  input: z
    .array(z.number().int())
    .length(INPUT_SIZE)
    .optional()
    .openapi({ description: 'With `preview=1`: the 28×28 input the model saw, 0-255.' }),
  side: z.literal(IMAGE_SIDE).optional(),
  prepared: z
    .enum(['none', 'plain', 'deskew'])
    .optional()
    .openapi({
      description:
        'With `preview=1`: how `input` was prepared (not at all, MNIST-style, or with deskewing, as the answering ' +
        'model’s recipe did). A correction of this answer sends `input` with `preprocess: false` and this.',
    }),
}).openapi('ImagePrediction', { description: 'The answer to an uploaded PNG.' });

export const PredictResponse = z
  .union([
    Prediction.extend({ modelVersion: z.string(), ...ScaleUsed }),
    z.object({ modelVersion: z.string(), ...ScaleUsed, predictions: z.array(Prediction) }),
    ImagePrediction,
  ])
  .openapi('PredictResponse', {
    description:
      'A single `image` answers one prediction inline; `images` answers `predictions` in order; an uploaded PNG ' +
      'answers one prediction with the size of the source and whether it was preprocessed.',
  });

/** `/predict`'s PNG bodies, for the OpenAPI document (read by `body.ts`, not validated by zod). */
export const PNG_BODY = {
  schema: { type: 'string' as const, format: 'binary', description: 'A PNG of any size (at most 2 MiB).' },
};
export const MULTIPART_BODY = {
  schema: {
    type: 'object' as const,
    properties: {
      image: {
        type: 'string' as const,
        format: 'binary',
        description: 'The PNG (else the first file field).',
      },
      preprocess: { type: 'string' as const, enum: ['1', '0', 'true', 'false'], description: 'Default on.' },
      preview: { type: 'string' as const, enum: ['1', '0', 'true', 'false'], description: 'Default off.' },
    },
    required: ['image'],
  },
};

export const HistoryEntry = z
  .object({
    version: z.string(),
    parent: z.string().nullable(),
    source: z.enum(['publish', 'fine-tune', 'rollback']),
    at: z.string(),
  })
  .openapi('HistoryEntry');

export const ErrorResponse = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown() }) })
  .openapi('Error');

export const ModelInfo = z
  .object({
    version: z.string(),
    sizes: z.array(z.number().int()),
    alpha: z.number(),
    encoding: z.string(),
    parameters: z.number().int(),
    blobBytes: z.number().int(),
    createdAt: z.string().nullable(),
    parentVersion: z.string().nullable(),
    accuracy: z.object({ test: z.number().nullable(), validation: z.number().nullable() }),
    checkSet: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    history: z.array(HistoryEntry),
    stale: ErrorResponse.shape.error.nullable().openapi({
      description: 'Set when the current version cannot be loaded and this older one still answers.',
    }),
  })
  .openapi('ModelInfo');

export const RollbackRequest = z
  .object({ version: z.string().min(1).max(100) })
  .strict()
  .openapi('RollbackRequest');

export const RollbackResponse = z
  .object({ version: z.string(), previousVersion: z.string().nullable(), history: z.array(HistoryEntry) })
  .openapi('RollbackResponse');

export const Health = z
  .object({ status: z.enum(['ok', 'degraded']), modelVersion: z.string(), stale: z.string().nullable() })
  .openapi('Health');
