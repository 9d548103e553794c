/**
 * @module
 * The zod schemas of the feedback routes (they validate requests and generate `/openapi.json`).
 */
import { z } from '@hono/zod-openapi';
import { LineageFineTuneResponse } from '../fine-tune-schemas.ts';
import { Image, PixelScale } from '../schemas.ts';

const Digit = z.number().int().min(0).max(9);
const Version = z
  .string()
  .regex(
    /^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$/,
    'a model version id (as `X-Model-Version` or `modelVersion` gave it)',
  );

const field = (description: string, extra: Record<string, unknown> = {}) => ({
  type: 'string' as const,
  description,
  ...extra,
});
const UPLOAD_FIELDS = {
  label: field('The right digit.', { pattern: '^[0-9]$' }),
  modelVersion: field('The version that answered (`modelVersion` of /predict).'),
  predicted: field('What that version answered, if the form kept it.', { pattern: '^[0-9]$' }),
  preprocess: field('As `/predict`’s upload flag: default on; `0` or `false` sends the network input.'),
  prepared: field('Only with `preprocess=0`: `none`, `plain` or `deskew`, as in JSON.'),
};

/**
 * `POST /feedback`'s uploads, for the OpenAPI document: read by `readUpload` before the route, never by zod. A PNG
 * body takes the fields in the query string; a form takes them as fields (a field given in both is a 400).
 */
export const FEEDBACK_PNG_BODY = {
  schema: {
    type: 'string' as const,
    format: 'binary',
    description:
      'A PNG of any size (at most 2 MiB); `label`, `modelVersion` and the rest in the query string.',
  },
};
export const FEEDBACK_MULTIPART_BODY = {
  schema: {
    type: 'object' as const,
    properties: { image: field('The PNG.', { format: 'binary' }), ...UPLOAD_FIELDS },
    required: ['image', 'label', 'modelVersion'],
  },
};

export const FeedbackRequest = z
  .object({
    pixelScale: PixelScale,
    image: Image,
    label: Digit.openapi({ description: 'The right digit.' }),
    modelVersion: Version.openapi({ description: 'The version that answered (`modelVersion` of /predict).' }),
    predicted: Digit.optional().openapi({ description: 'What that version answered, if the form kept it.' }),
    preprocess: z
      .boolean()
      .optional()
      .openapi({
        description:
          'Prepare the image the MNIST way first, as `/predict` would with the same flag. Default as `/predict`: on ' +
          'when the current model was trained on prepared images (`metadata.training.preprocess`), off otherwise. ' +
          'Send `false` when the image already is the network input (the page sends `input` from `/predict`).',
      }),
    prepared: z
      .enum(['none', 'plain', 'deskew'])
      .optional()
      .openapi({
        description:
          'Only with `preprocess: false`: how the image was already prepared, as `/predict`’s preview said ' +
          '(`prepared`). An apply trains the current model only on corrections prepared its way; without it the ' +
          'image is taken as the sender’s own network input (`none`).',
      }),
  })
  .strict()
  .superRefine(
    (v: { pixelScale?: unknown; image?: unknown; prepared?: unknown; preprocess?: unknown }, ctx) => {
      if (v.prepared !== undefined && v.preprocess !== false) {
        ctx.addIssue({
          code: 'custom',
          path: ['prepared'],
          message: 'prepared: only with preprocess false (it says how an image sent as it is was prepared)',
        });
      }
      if (v.pixelScale !== '0-255' && v.pixelScale !== '0-1') return;
      if (!Array.isArray(v.image)) return;
      const max = v.pixelScale === '0-255' ? 255 : 1;
      const flat: unknown[] = v.image.flat();
      const i = flat.findIndex((p) => typeof p === 'number' && !(p >= 0 && p <= max));
      if (i >= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['image', i],
          message: `pixel ${flat[i]} is outside the declared pixelScale ${v.pixelScale} (allowed 0..${max})`,
        });
      }
    },
  )
  .openapi('FeedbackRequest');

export const FeedbackAccepted = z
  .object({ id: z.number().int(), status: z.literal('pending'), label: Digit, modelVersion: z.string() })
  .openapi('FeedbackAccepted');

const Status = z.enum(['pending', 'held', 'applied', 'dropped']);

export const FeedbackQuery = z.object({
  status: z
    .string()
    .regex(/^(pending|held|applied|dropped)(,(pending|held|applied|dropped))*$/)
    .default('pending')
    .openapi({ description: 'Comma-separated statuses to list.', example: 'pending,held' }),
  after: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .openapi({ description: 'List ids after this one (paging).' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  pixels: z
    .enum(['0', '1'])
    .default('0')
    .openapi({ description: '`1`: include each item’s 784 pixels (0-255).' }),
});

const ByLabel = z.object({ total: z.number().int(), byLabel: z.record(z.string(), z.number().int()) });

export const FeedbackList = z
  .object({
    items: z.array(
      z.object({
        id: z.number().int(),
        label: Digit,
        predicted: Digit.nullable(),
        answeredBy: z.string().nullable(),
        status: Status,
        createdAt: z.string(),
        appliedIn: z.string().nullable().openapi({ description: 'The version that consumed it.' }),
        prepared: z
          .enum(['none', 'plain', 'deskew'])
          .nullable()
          .openapi({
            description:
              'How its pixels were prepared when it was stored: not at all (`preprocess: false`), MNIST-style, or ' +
              'MNIST-style with deskewing. An apply trains the current model only on items prepared as it prepares ' +
              'images (and `none`); null for items stored before this was recorded.',
          }),
        pixels: z.array(z.number().int()).optional(),
      }),
    ),
    next: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Pass as `after` for the next page; null at the end.' }),
    counts: z.object({ pending: ByLabel, held: ByLabel, applied: ByLabel, dropped: ByLabel }),
    applies: z.array(
      z.object({
        id: z.number().int(),
        outcome: z.enum(['applied', 'held', 'refused']),
        version: z.string().nullable(),
        parent: z.string(),
        examples: z.number().int(),
        at: z.string(),
        detail: z.unknown(),
      }),
    ),
    writesQueued: z.number().int(),
  })
  .openapi('FeedbackList');

export const DropRequest = z
  .object({ ids: z.array(z.number().int().min(1)).min(1).max(500) })
  .strict()
  .openapi('FeedbackDropRequest');

export const DropResponse = z.object({ dropped: z.array(z.number().int()) }).openapi('FeedbackDropResponse');

export const ApplyRequest = z
  .object({
    reviewed: z
      .boolean()
      .default(false)
      .openapi({ description: 'Apply held items too and skip the review check (after dropping bad items).' }),
  })
  .strict()
  .openapi('FeedbackApplyRequest');

export const ApplyResponse = LineageFineTuneResponse.extend({
  consumed: z
    .array(z.number().int())
    .openapi({ description: 'Ids of the feedback items the version consumed.' }),
  droppedOtherwisePrepared: z.array(z.number().int()).openapi({
    description:
      'Ids of the pending or held items this apply dropped because they were prepared for another recipe than ' +
      'the parent model’s (stored before the current model changed how images are prepared): it can never learn ' +
      'from them. Send such images again to have them prepared its way.',
  }),
  applyId: z.number().int(),
  review: z.object({
    disagreeing: z.number().int(),
    share: z.number(),
    confident: z.number(),
    maxDisagreement: z.number(),
    hold: z.boolean(),
    byLabel: z.record(z.string(), z.number().int()),
  }),
}).openapi('FeedbackApplyResponse');
