/**
 * @module
 * A small typed client for apps calling the edge-mlp API (browser, Node, Workers: only `fetch`). Its types come from
 * the worker's zod schemas (type-only imports, so no zod in the bundle). Not the API itself.
 */
import type { z } from '@hono/zod-openapi';
import type { FineTuneRequest, LineageFineTuneResponse } from './worker/fine-tune-schemas.ts';
import type { Health, ImagePrediction, ModelInfo, Prediction, PredictRequest } from './worker/schemas.ts';

export type PredictBody = z.input<typeof PredictRequest>;
export type FineTuneBody = z.input<typeof FineTuneRequest>;
/** The scale the server read the pixels in: the one sent, or the one it inferred when none was. */
export interface ScaleUsed {
  pixelScale: '0-255' | '0-1';
  pixelScaleInferred: boolean;
}
export type PredictionResult = z.infer<typeof Prediction> & { modelVersion: string } & ScaleUsed;
export type FineTuneResult = z.infer<typeof LineageFineTuneResponse>;
export type ModelInfoResult = z.infer<typeof ModelInfo>;
export type HealthResult = z.infer<typeof Health>;

/** The answer to an image upload: the prediction, and the 28×28 input (0-255) when `preview` was asked for. */
export type ImagePredictionResult = z.infer<typeof ImagePrediction>;

/** A 4xx/5xx answer, with the API's `{ error: { code, message, details } }` body. */
export class EdgeMlpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'EdgeMlpError';
  }
}

export interface ClientOptions {
  /** Bearer token for `/fine-tune` and `/model/rollback`. */
  token?: string;
  /** A `fetch` to use instead of the global one (a service binding's, a test double). */
  fetch?: typeof fetch;
}

/** Which stored version answers; default: the current one. */
export interface VersionOption {
  /** A version id (from `model()`, `fineTune()` or the history): 404 when unknown, 422 when unservable. */
  version?: string;
}

export interface ImageOptions {
  /** MNIST-style preprocessing as the model's recipe did (crop, deskew, fit 20×20, centre of mass); on by default. */
  preprocess?: boolean;
  /** Also return the 28×28 input the model saw. */
  preview?: boolean;
  /** The calibrated probability a digit needs for the verdict `confident`, in (0, 1]; the deployment's default otherwise. */
  minConfidence?: number;
}

/** Per-request verdict settings of the JSON calls. */
export interface VerdictOptions {
  /** As `ImageOptions.minConfidence`; outside (0, 1] the server answers 400. */
  minConfidence?: number;
}

/**
 * A client bound to one deployment, e.g. `createClient('https://edge-mlp.example.workers.dev')`.
 * Every method throws `EdgeMlpError` on a non-2xx answer.
 */
export function createClient(baseUrl: string, options: ClientOptions = {}) {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const url = (path: string) => new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;

  async function call<T>(path: string, init: RequestInit = {}, auth = false): Promise<T> {
    const headers = new Headers(init.headers);
    if (auth && options.token) headers.set('Authorization', `Bearer ${options.token}`);
    const res = await doFetch(url(path), { ...init, headers });
    const body = (await res.json().catch(() => null)) as
      (T & { error?: undefined }) | { error: { code: string; message: string; details: unknown } } | null;
    if (!res.ok || !body) {
      const err = body?.error;
      throw new EdgeMlpError(
        res.status,
        err?.code ?? `http_${res.status}`,
        err?.message ?? `${res.status} ${res.statusText}`,
        err?.details ?? null,
      );
    }
    return body as T;
  }

  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

  return {
    health: () => call<HealthResult>('health'),
    model: () => call<ModelInfoResult>('model'),
    /**
     * One 28×28 image (784 numbers or 28 rows). Without `pixelScale` the server infers it (`0-255` when any
     * pixel is above 1, else `0-1`) and says so in `pixelScaleInferred`. Use `digit` only when `verdict` is
     * `confident`; `uncertain` and `not_a_digit` mean "ask again", `blank` means nothing was drawn.
     */
    predict: (
      image: PredictBody['image'] & {},
      pixelScale?: PredictBody['pixelScale'],
      opts: VerdictOptions & VersionOption = {},
    ) => {
      const { version, ...verdict } = opts;
      return call<PredictionResult>(
        `predict${versionQuery({ version })}`,
        json({ image, pixelScale, ...verdict }),
      );
    },
    /** A batch of images, answered in order; `pixelScale`, `verdict` and `version` as for `predict`. */
    predictBatch: (
      images: PredictBody['images'] & {},
      pixelScale?: PredictBody['pixelScale'],
      opts: VerdictOptions & VersionOption = {},
    ) => {
      const { version, ...verdict } = opts;
      return call<{ modelVersion: string; predictions: z.infer<typeof Prediction>[] } & ScaleUsed>(
        `predict${versionQuery({ version })}`,
        json({ images, pixelScale, ...verdict }),
      );
    },
    /** A PNG of any size (bytes or a Blob), prepared the MNIST way by the server unless `preprocess: false`. */
    predictPng: (png: Uint8Array | Blob, opts: ImageOptions = {}) => {
      const query = new URLSearchParams();
      if (opts.preprocess === false) query.set('preprocess', 'false');
      if (opts.preview) query.set('preview', '1');
      if (opts.minConfidence !== undefined) query.set('minConfidence', String(opts.minConfidence));
      const q = query.size ? `?${query}` : '';
      return call<ImagePredictionResult>(`predict${q}`, {
        method: 'POST',
        headers: { 'Content-Type': 'image/png' },
        body: png as BodyInit,
      });
    },
    fineTune: (body: FineTuneBody) => call<FineTuneResult>('fine-tune', json(body), true),
    rollback: (version: string) =>
      call<{ version: string; previousVersion: string | null }>('model/rollback', json({ version }), true),
  };
}

function versionQuery(opts: VersionOption): string {
  return opts.version === undefined ? '' : `?${new URLSearchParams({ version: opts.version })}`;
}

export type EdgeMlpClient = ReturnType<typeof createClient>;
