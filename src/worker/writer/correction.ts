/**
 * @module
 * A correction as `POST /feedback` receives it, read into the network's input: a PNG body or form (prepared
 * unless `preprocess=false`, as `/predict` prepares uploads), or JSON pixels (prepared, when the request does not
 * say, exactly when `/predict`'s JSON default would: when the current model was trained on prepared images).
 * Not storage, not policy.
 */
import type { z } from '@hono/zod-openapi';
import type { HonoRequest } from 'hono';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { preparationFor, preparedAs, type PreparedAs } from '../../format/index.ts';
import type { Preparation } from '../../data/preprocess.ts';
import { getServingModel } from '../model-cache.ts';
import type { ModelStore } from '../model-store.ts';
import { readForm, type FormPart } from '../multipart-form.ts';
import { uploadSettings } from '../upload-settings.ts';
import { inUploadTurn } from '../upload-turns.ts';
import { decodeImage, preprocessBatch, toModelInput } from '../predict.ts';
import { flatImage } from '../schemas.ts';
import type { FeedbackRequest } from './schemas.ts';

/** A correction read from any accepted body, as the network's input. */
export interface Correction {
  x: Float32Array;
  /** How `x` was prepared (stored with it: an apply trains a model only on inputs prepared its way). */
  prepared: PreparedAs;
  label: number;
  modelVersion: string;
  predicted: number | null;
}

/** Field `name` of an upload (form field, else query string) as a digit 0-9; absent is null. */
function digitField(value: string | null, name: string, required: boolean): number | null {
  if (value === null || value === '') {
    if (required)
      throw new ApiError(400, 'validation_error', `${name}: required (a digit 0-9)`, { field: name });
    return null;
  }
  if (!/^[0-9]$/.test(value.trim())) {
    throw new ApiError(
      400,
      'validation_error',
      `${name}: must be one digit 0-9, got ${JSON.stringify(value.slice(0, 20))}`,
      {
        field: name,
      },
    );
  }
  return Number(value.trim());
}

/**
 * Reads a PNG body or a multipart form with an `image` file and `label`, `modelVersion`, `predicted` fields; the
 * image is prepared as the current model's recipe prepared its images, unless `preprocess` turns that off (then
 * `prepared` may say how it already was).
 * @throws {ApiError} 503 when no model can be served and preparation is not turned off; 400 `repeated_field` when
 *   a field is given more than once (query string and form together).
 */
export async function readUpload(req: HonoRequest, store: ModelStore, cfg: Config): Promise<Correction> {
  const type = (req.header('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  const query = new URL(req.url).searchParams;
  let png: Uint8Array;
  let form: FormPart[] | undefined;
  if (type === 'multipart/form-data') {
    // Read whole (the route's body limit bounds it), then read in place as /predict reads its forms.
    form = readForm(new Uint8Array(await req.arrayBuffer()), req.header('Content-Type') ?? '');
    const file = form.find((part) => part.name === 'image');
    if (!file || file.filename === null) {
      throw new ApiError(400, 'missing_image', 'the form has no file field named `image` (a PNG)');
    }
    png = file.content;
  } else {
    png = new Uint8Array(await req.arrayBuffer());
  }
  const fields = uploadSettings(
    ['label', 'modelVersion', 'predicted', 'preprocess', 'prepared'],
    query,
    form,
  );
  const label = digitField(fields.get('label'), 'label', true)!;
  const predicted = digitField(fields.get('predicted'), 'predicted', false);
  const modelVersion = fields.get('modelVersion') ?? '';
  if (!/^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$/.test(modelVersion)) {
    throw new ApiError(400, 'validation_error', 'modelVersion: required, the version that answered', {
      field: 'modelVersion',
    });
  }
  const prep = fields.get('preprocess');
  const prepare = prep === null || !['0', 'false', 'no', 'off'].includes(prep.toLowerCase());
  const said = fields.get('prepared');
  if (said !== null && (prepare || !['none', 'plain', 'deskew'].includes(said))) {
    throw new ApiError(
      400,
      'validation_error',
      'prepared: only with preprocess=0, and one of none, plain, deskew (how the image sent as it is was prepared)',
      { field: 'prepared' },
    );
  }
  const preparation = prepare ? await currentPreparation(store, cfg, true) : null;
  // One decode at a time in this isolate, as /predict's uploads take their turn.
  const x = await inUploadTurn(async () => {
    const image = await decodeImage(png);
    return preparation ? toModelInput(image, true, preparation) : toModelInput(image, false);
  });
  const prepared = preparation ? preparedAs(preparation) : ((said as PreparedAs | null) ?? 'none');
  return { x, prepared, label, modelVersion, predicted };
}

/**
 * A validated JSON correction as the network's input. Without `preprocess`, the image is prepared when the
 * current model was trained on prepared images, as `/predict` prepares a JSON image left to its default, so
 * the stored example is what the model is shown (and an apply trains on it as stored); with `preprocess: true`
 * it is prepared as the current model's recipe prepared its images.
 * @throws {ApiError} 422 `empty_image` when it is prepared and has no ink; 503 when no model can be served and
 *   the request did not turn preparation off.
 */
export async function jsonCorrection(
  body: z.output<typeof FeedbackRequest>,
  store: ModelStore,
  cfg: Config,
): Promise<Correction> {
  const divisor = body.pixelScale === '0-255' ? 255 : 1;
  const x = Float32Array.from(flatImage(body.image), (v) => v / divisor);
  const preparation =
    body.preprocess === false ? null : await currentPreparation(store, cfg, body.preprocess);
  if (preparation) preprocessBatch(x, 1, [], undefined, preparation);
  return {
    x,
    prepared: body.preprocess === false ? (body.prepared ?? 'none') : preparedAs(preparation),
    label: body.label,
    modelVersion: body.modelVersion,
    predicted: body.predicted ?? null,
  };
}

/** `preparationFor` the current serving model. @throws {ApiError} 503 when no model can be served. */
async function currentPreparation(
  store: ModelStore,
  cfg: Config,
  asked: boolean | undefined,
): Promise<Preparation | null> {
  return preparationFor((await getServingModel(store, cfg.revalidateMs)).serving.model.metadata, asked);
}
