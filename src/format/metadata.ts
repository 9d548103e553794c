/**
 * @module
 * The metadata block: canonical JSON text (exactly `JSON.stringify` output) of an object with a few typed keys.
 * Canonical so that a decoded model re-encodes to the same bytes; unknown keys pass through untouched.
 */
import { formatError } from './errors.ts';
import type { ModelMetadata } from './types.ts';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isFraction = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;

/** The first problem with the known keys, or null. */
function metadataProblem(value: unknown): string | null {
  if (!isObject(value))
    return `expected a JSON object, found ${Array.isArray(value) ? 'an array' : String(value)}`;
  if (typeof value.dataset !== 'string' || value.dataset === '')
    return '`dataset` must be a non-empty string';
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) {
    return '`createdAt` must be an ISO 8601 date string';
  }
  for (const key of ['testAccuracy', 'validationAccuracy']) {
    if (key in value && !isFraction(value[key])) return `\`${key}\` must be a number from 0 to 1`;
  }
  if ('training' in value && !isObject(value.training)) return '`training` must be an object';
  if ('parentVersion' in value && value.parentVersion !== null && typeof value.parentVersion !== 'string') {
    return '`parentVersion` must be a string or null';
  }
  if ('calibration' in value) return calibrationProblem(value.calibration);
  return null;
}

/** The first problem with the `calibration` key: `{ method?: 'temperature', temperature: finite > 0, … }`. */
function calibrationProblem(c: unknown): string | null {
  if (!isObject(c)) return '`calibration` must be an object';
  if ('method' in c && c.method !== 'temperature') return '`calibration.method` must be "temperature"';
  if (typeof c.temperature !== 'number' || !(c.temperature > 0) || !Number.isFinite(c.temperature)) {
    return '`calibration.temperature` must be a finite number > 0';
  }
  return null;
}

/**
 * Parses and checks the metadata bytes found at `offset`.
 * @throws {ModelFormatError} `BAD_METADATA`
 */
export function parseMetadata(bytes: Uint8Array, offset: number): ModelMetadata {
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch {
    throw formatError('BAD_METADATA', offset, 'not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw formatError('BAD_METADATA', offset, `not valid JSON (${(err as Error).message})`);
  }
  const problem = metadataProblem(value);
  if (problem) throw formatError('BAD_METADATA', offset, problem);
  if (JSON.stringify(value) !== text) {
    throw formatError(
      'BAD_METADATA',
      offset,
      'not canonical: the text is not what JSON.stringify writes for it',
    );
  }
  return value as ModelMetadata;
}

/**
 * The bytes `parseMetadata` accepts for this metadata: its `JSON.stringify` text, checked the same way.
 * @throws {ModelFormatError} `BAD_METADATA` (offset -1)
 */
export function serializeMetadata(metadata: ModelMetadata): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(metadata);
  } catch (err) {
    throw formatError('BAD_METADATA', -1, `cannot be written as JSON (${(err as Error).message})`);
  }
  // Checked as the reader will see it: after toJSON, dropped undefined values and the like.
  const problem = metadataProblem(text === undefined ? undefined : JSON.parse(text));
  if (problem) throw formatError('BAD_METADATA', -1, problem);
  return utf8Encoder.encode(text);
}

/**
 * How a model's recipe prepared its images: null when it fed them as they are (no `training.preprocess`), else
 * the choices of `src/data/preprocess.ts` it made (`training.deskew`: the slant straightened too). Models from
 * before deskewing existed have no `deskew` key and are prepared as they were trained.
 */
export function preparationOf(metadata: Record<string, unknown>): { deskew: boolean } | null {
  const training = metadata.training;
  if (typeof training !== 'object' || training === null) return null;
  const t = training as { preprocess?: unknown; deskew?: unknown };
  return t.preprocess === true ? { deskew: t.deskew === true } : null;
}

/**
 * The preparation a request gets from this model: `asked` true prepares as the model's recipe did (plain
 * MNIST-style for a model trained on images as they are), false not at all, left out (undefined or null) as the
 * model was trained.
 */
export function preparationFor(
  metadata: Record<string, unknown>,
  asked: boolean | null | undefined,
): { deskew: boolean } | null {
  if (asked === false) return null;
  const own = preparationOf(metadata);
  return asked === true ? (own ?? { deskew: false }) : own;
}

/** How a stored network input was prepared: not at all (`none`), MNIST-style (`plain`) or with deskewing. */
export type PreparedAs = 'none' | 'plain' | 'deskew';

/** The name of a preparation (`preparationFor`'s answer), as corrections are tagged with it. */
export function preparedAs(preparation: { deskew?: boolean } | null): PreparedAs {
  return preparation === null ? 'none' : preparation.deskew ? 'deskew' : 'plain';
}

/**
 * The prepared inputs a model can learn from as they are: the ones prepared as `/predict` prepares a picture for
 * it (`preparationFor(metadata, true)`), and unprepared ones (`none`: the sender asked for no preparation and
 * sent the network's input itself).
 */
export function learnsFrom(metadata: Record<string, unknown>): PreparedAs[] {
  return ['none', preparedAs(preparationFor(metadata, true))];
}
