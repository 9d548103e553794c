/**
 * @module
 * The zod schemas of `/fine-tune`: its request, and its answer with the lineage guard's figures (also the base of
 * `/feedback/apply`'s answer). The images and hard maxima are `schemas.ts`'s. Not handlers.
 */
import { z } from '@hono/zod-openapi';
import {
  checkScale,
  Image,
  MAX_DECAY,
  MAX_EXAMPLES,
  MAX_LEARNING_RATE,
  MAX_STEPS,
  PixelScale,
} from './schemas.ts';

export const FineTuneRequest = z
  .object({
    pixelScale: PixelScale,
    examples: z
      .array(z.object({ image: Image, label: z.number().int().min(0).max(9) }).strict())
      .min(1)
      .max(MAX_EXAMPLES)
      .openapi({ description: `1..${MAX_EXAMPLES} labelled images; each step is one batch of all of them.` }),
    method: z
      .enum(['minibatch', 'full-batch'])
      .optional()
      .openapi({
        description:
          'minibatch (default): shuffled batches with momentum over epochs, mixed with the replay set; ' +
          'full-batch: the plain form, `steps` steps on all examples at once.',
      }),
    epochs: z.number().int().min(1).max(MAX_STEPS).optional().openapi({
      description: 'Passes over the examples. Default: as many as the work ceiling allows, at most 8.',
    }),
    steps: z.number().int().min(1).max(MAX_STEPS).optional().openapi({
      description: 'Full-batch steps (implies method full-batch).',
    }),
    batchSize: z.number().int().min(1).max(MAX_EXAMPLES).optional(),
    learningRate: z.number().gt(0).max(MAX_LEARNING_RATE).optional(),
    momentum: z.number().min(0).max(0.99).optional(),
    replay: z.number().min(0).max(4).optional().openapi({
      description: "Rows of the model's replay set (training data) per new row in each batch; 0 = none.",
    }),
    anchor: z.number().min(0).max(100).optional().openapi({
      description: "L2 pull towards the parent's weights.",
    }),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31)
      .optional(),
    preprocess: z
      .boolean()
      .optional()
      .openapi({
        description:
          'Prepare the examples MNIST-style as `/predict` prepares JSON images. Default: on when the model was ' +
          'trained on prepared images (`metadata.training.preprocess`), so it learns from what it will be shown.',
      }),
    holdOut: z.number().min(0).max(0.5).optional().openapi({
      description:
        'Share of the examples held out to show the fine-tune helped (0 = none). Default 0.1 from 40 examples.',
    }),
    l1: z
      .number()
      .min(0)
      .max(MAX_DECAY)
      .default(0)
      .openapi({ description: 'L1 on weights (biases are not decayed).' }),
    l2: z
      .number()
      .min(0)
      .max(MAX_DECAY)
      .default(0)
      .openapi({ description: 'L2 on weights (biases are not decayed).' }),
    dryRun: z
      .boolean()
      .default(false)
      .openapi({ description: 'Evaluate the fine-tune and the guard, save nothing.' }),
  })
  .strict()
  .superRefine((v: { pixelScale?: unknown; examples?: unknown }, ctx) => {
    if (!Array.isArray(v.examples)) return;
    const list = v.examples.map((e: unknown, i) => ({
      image: e && typeof e === 'object' ? (e as { image?: unknown }).image : undefined,
      path: ['examples', i, 'image'],
    }));
    checkScale(list, v.pixelScale, ctx);
  })
  .openapi('FineTuneRequest');

export const Metrics = z.object({ loss: z.number(), accuracy: z.number() }).openapi('Metrics');

export const Guard = z
  .object({
    checkSet: z.string(),
    size: z.number().int(),
    parentAccuracy: z.number(),
    accuracy: z.number(),
    maxDrop: z.number(),
    passed: z.boolean(),
  })
  .openapi('Guard', { description: 'Accuracy on the held-out check set the parent model points to.' });

export const FineTuneResponse = z
  .object({
    dryRun: z.boolean(),
    version: z.string().nullable().openapi({ description: 'The saved version; null on a dry run.' }),
    parentVersion: z.string(),
    examples: z.number().int(),
    steps: z.number().int(),
    before: Metrics,
    after: Metrics,
    guard: Guard.nullable().openapi({ description: 'null when the parent model names no check set.' }),
    attempts: z.number().int().openapi({ description: 'Runs needed: more than 1 after losing a race.' }),
  })
  .openapi('FineTuneResponse');

const CheckFigures = z
  .object({ count: z.number().int(), accuracy: z.number(), perClass: z.array(z.number().nullable()) })
  .openapi('CheckFigures');

export const LineageGuard = z
  .object({
    passed: z.boolean(),
    checkSet: z.string().nullable(),
    size: z.number().int(),
    bounds: z.object({
      maxDrop: z.number(),
      maxClassDrop: z.number(),
      maxLineageDrop: z.number(),
      maxLineageClassDrop: z.number(),
    }),
    parent: CheckFigures.nullable(),
    root: CheckFigures.nullable(),
    child: CheckFigures.nullable(),
    checks: z.array(
      z.object({
        name: z.enum(['parent', 'parent-class', 'root', 'root-class', 'held-out']),
        reference: z.number(),
        child: z.number(),
        drop: z.number(),
        bound: z.number(),
        passed: z.boolean(),
        class: z.number().int().optional(),
      }),
    ),
    reasons: z.array(z.string()),
  })
  .openapi('LineageGuard', {
    description:
      'The child against its parent and the lineage root on the check set, and on the held-out slice.',
  });

export const LineageFineTuneResponse = z
  .object({
    dryRun: z.boolean(),
    version: z.string().nullable(),
    parentVersion: z.string(),
    rootVersion: z.string().openapi({ description: 'The published version this lineage descends from.' }),
    depth: z.number().int(),
    examples: z.number().int(),
    trained: z.number().int(),
    holdOut: z.number().nullable(),
    settings: z.object({
      method: z.enum(['minibatch', 'full-batch']),
      epochs: z.number().int(),
      batchSize: z.number().int(),
      learningRate: z.number(),
      momentum: z.number(),
      schedule: z.enum(['constant', 'cosine']),
      l1: z.number(),
      l2: z.number(),
      anchor: z.number(),
      replay: z.number(),
      seed: z.number().int(),
    }),
    work: z.number().int(),
    steps: z.number().int(),
    start: z.enum(['master', 'serving-f32', 'dequantized']),
    before: Metrics,
    after: Metrics,
    heldOut: z.object({ count: z.number().int(), parent: Metrics, child: Metrics }).nullable(),
    guard: LineageGuard,
    attempts: z.number().int(),
  })
  .openapi('LineageFineTuneResponse');
