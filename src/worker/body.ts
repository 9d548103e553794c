/**
 * @module
 * Reading request bodies, bounded before anything is parsed: JSON bodies behind a size limit, and `/predict`'s
 * uploads (a raw `image/png` body, or the file field of a `multipart/form-data` form) read into bytes with their
 * `preprocess`/`preview` flags. Not decoding (see `png.ts`) and not prediction (see `predict.ts`).
 */
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { Bindings } from './config.ts';
import { ApiError } from './errors.ts';
import { refuseDeepJson } from './json-depth.ts';
import { readForm, type FormPart } from './multipart-form.ts';
import { inUploadPlace } from './upload-turns.ts';
import { uploadSettings } from './upload-settings.ts';

/** Largest upload accepted, PNG or multipart, in bytes. */
export const MAX_IMAGE_BODY = 2 * 1024 * 1024;

/** What an image upload asks for: the PNG's bytes, and how to prepare and answer. */
export interface Upload {
  png: Uint8Array;
  /** Prepare it the MNIST way (the default; `preprocess=0` turns it off). */
  preprocess: boolean;
  /** Answer with the 28×28 input the model saw (`preview=1`). */
  preview: boolean;
  /** The confidence a digit needs to be `confident` (`minConfidence=0.95`); null: the deployment's default. */
  minConfidence: number | null;
}

/** The variables `/predict`'s body middleware hands to its route: the upload, when the body was an image. */
export type BodyVariables = { upload?: Upload };
type Env = { Bindings: Bindings; Variables: BodyVariables };

export type BodyKind = 'json' | 'png' | 'multipart';

/** The media type of the body, lowercased without parameters; '' when none was sent. */
export function mediaType(request: Request): string {
  return (request.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
}

/** Whether the body is an upload (`image/png` or `multipart/form-data`), which JSON validators must not read. */
export function isImageRequest(request: Request): boolean {
  const kind = kindOf(mediaType(request));
  return kind === 'png' || kind === 'multipart';
}

function kindOf(type: string): BodyKind | null {
  if (type === 'application/json') return 'json';
  if (type === 'image/png') return 'png';
  if (type === 'multipart/form-data') return 'multipart';
  return null;
}

function unsupported(type: string, accepted: string): ApiError {
  return new ApiError(415, 'unsupported_media_type', `send the body as ${accepted}`, {
    contentType: type || null,
  });
}

function tooLarge(maxBytes: number, what = 'the request body'): ApiError {
  return new ApiError(413, 'body_too_large', `${what} exceeds ${maxBytes} bytes`, { maxBytes });
}

/** Hono's body limit with the API's 413 past `maxSize`, then the nesting check (`refuseDeepJson`). */
function jsonLimit(maxSize: number) {
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge(maxSize);
    },
  });
  return createMiddleware<Env>((c, next) =>
    limit(c, async () => {
      await refuseDeepJson(c.req);
      await next();
    }),
  );
}

/** JSON-only, size-bounded bodies: 415 for another content type, 413 past `maxSize`. */
export function jsonBody(maxSize: number) {
  const limit = jsonLimit(maxSize);
  return createMiddleware<Env>(async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const type = mediaType(c.req.raw);
    if (type !== 'application/json') throw unsupported(type, 'JSON with `Content-Type: application/json`');
    return limit(c, next);
  });
}

/**
 * `/predict`'s bodies: JSON goes on to the route's validator behind `maxJson`; a PNG or a form is read here
 * (at most `MAX_IMAGE_BODY` bytes) and handed on as `c.var.upload`; anything else is a 415.
 */
export function predictBody(maxJson: number) {
  const json = jsonBody(maxJson);
  const limit = jsonLimit(maxJson);
  return createMiddleware<Env>(async (c, next) => {
    const type = mediaType(c.req.raw);
    const kind = kindOf(type);
    // A JSON POST passes `jsonBody`'s own checks (method, media type): straight to its body limit.
    if (kind === 'json') return c.req.method === 'POST' ? limit(c, next) : json(c, next);
    if (kind === null) {
      throw unsupported(
        type,
        'JSON (`application/json`), a PNG (`image/png`) or a form with a PNG file (`multipart/form-data`)',
      );
    }
    // The place is taken before the body is read: past the queue, a 503 `busy` with nothing read.
    await inUploadPlace(async () => {
      c.set('upload', await readUpload(c.req.raw, kind));
      await next();
    });
  });
}

/**
 * Reads at most `max` bytes of a body; more is a 413 without reading the rest. The chunks are copied into one
 * buffer as they arrive (of the declared `Content-Length`, else grown by doubling), not gathered and then joined.
 */
export async function readBounded(request: Request, max: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('Content-Length') ?? NaN);
  if (declared > max) throw tooLarge(max, 'the upload');
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  let out = new Uint8Array(declared >= 0 ? declared : 64 * 1024);
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const end = total + value.byteLength;
    if (end > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(max, 'the upload');
    }
    if (end > out.length) {
      const grown = new Uint8Array(Math.min(max, Math.max(2 * out.length, end)));
      grown.set(out.subarray(0, total));
      out = grown;
    }
    out.set(value, total);
    total = end;
  }
  return total === out.length ? out : out.subarray(0, total);
}

const OFF = ['0', 'false', 'no', 'off'];
const ON = ['1', 'true', 'yes', 'on'];

/** A `minConfidence` field: null when absent. @throws {ApiError} 400 `bad_threshold` outside (0, 1]. */
function threshold(value: string | null): number | null {
  if (value === null) return null;
  const v = value.trim() === '' ? NaN : Number(value);
  if (!(v > 0 && v <= 1)) {
    throw new ApiError(400, 'bad_threshold', `minConfidence must be a number in (0, 1], got "${value}"`, {
      minConfidence: value,
    });
  }
  return v;
}

function flag(value: string | null, fallback: boolean): boolean {
  if (value === null) return fallback;
  const v = value.toLowerCase();
  return OFF.includes(v) ? false : ON.includes(v) || fallback;
}

/**
 * Reads an upload: a raw `image/png` body, or the file field (`image`, else the first file) of a
 * `multipart/form-data` form. `preprocess`, `preview` and `minConfidence` come from the query string or the form's
 * fields, each at most once in all.
 * @throws {ApiError} 413 `body_too_large`, 400 `bad_form`, `missing_image`, `repeated_field` or `bad_threshold`.
 */
export async function readUpload(request: Request, kind: 'png' | 'multipart'): Promise<Upload> {
  const query = new URL(request.url).searchParams;
  const bytes = await readBounded(request, MAX_IMAGE_BODY);
  let png = bytes;
  let form: FormPart[] | undefined;
  if (kind === 'multipart') {
    form = readForm(bytes, request.headers.get('Content-Type') ?? '');
    const named = form.find((part) => part.name === 'image');
    const file = named && named.filename !== null ? named : form.find((part) => part.filename !== null);
    if (!file) {
      throw new ApiError(
        400,
        'missing_image',
        'the form has no file field; send the PNG in a field named `image`',
      );
    }
    png = file.content;
  }
  const fields = uploadSettings(['preprocess', 'preview', 'minConfidence'], query, form);
  return {
    png,
    preprocess: flag(fields.get('preprocess'), true),
    preview: flag(fields.get('preview'), false),
    minConfidence: threshold(fields.get('minConfidence')),
  };
}
