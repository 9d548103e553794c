/**
 * `/predict`'s answers through the real app carry exactly the headers `c.json` and `publicCors` gave them before
 * the route built its own `Response` with the CORS headers in it (`corsJson`): JSON images and uploads, with `*`,
 * listed and unlisted origins, no origin, and refusals through `onError`; each header once.
 */
import { env } from 'cloudflare:workers';
import { encode as encodePng } from 'fast-png';
import { beforeEach, describe, expect, it } from 'vitest';
import app from '../../src/worker/app.ts';
import type { Bindings } from '../../src/worker/config.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { imageAt, inkedPixels, post, seed, testEnv } from './helpers.ts';

const base = env as unknown as Bindings;

beforeEach(() => resetModelCache());

/** The headers of a `/predict` answer as `c.json(body, status, { X-Model-Version })` behind publicCors made them. */
function expected(origin: string | null, version: string | null): [string, string][] {
  const headers: [string, string][] = [];
  if (origin) headers.push(['access-control-allow-origin', origin]);
  headers.push(['access-control-expose-headers', 'X-Model-Version'], ['content-type', 'application/json']);
  headers.push(['vary', 'Origin']);
  if (version) headers.push(['x-model-version', version]);
  return headers;
}

describe('POST /predict headers', () => {
  for (const [origins, origin, allowed] of [
    ['*', 'https://a.example', '*'],
    ['*', null, '*'],
    ['https://a.example, https://b.example', 'https://b.example', 'https://b.example'],
    ['https://a.example', 'https://evil.example', null],
  ] as const) {
    it(`should be c.json's and publicCors's, once each (origins ${origins}, Origin ${origin})`, async () => {
      const e = testEnv(base, { CORS_ALLOWED_ORIGINS: origins });
      const { version } = await seed(e);
      const from: Record<string, string> = origin ? { Origin: origin } : {};
      const pixels = inkedPixels(1, 5);

      const json = await app.request('/predict', post({ image: imageAt(pixels, 0) }, null, from), e);
      expect(json.status).toBe(200);
      expect([...json.headers]).toEqual(expected(allowed, version));

      const png = encodePng({ width: 28, height: 28, data: pixels.slice(0, 784), channels: 1, depth: 8 });
      const upload = await app.request(
        '/predict',
        { method: 'POST', headers: { 'Content-Type': 'image/png', ...from }, body: png },
        e,
      );
      expect(upload.status).toBe(200);
      expect([...upload.headers]).toEqual(expected(allowed, version));

      // A refusal goes through onError and gets the CORS headers after it, as before.
      const refused = await app.request('/predict', post({ image: [1, 2, 3] }, null, from), e);
      expect(refused.status).toBe(400);
      expect([...refused.headers]).toEqual(expected(allowed, null));
    });
  }
});
