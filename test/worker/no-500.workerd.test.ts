import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { post, seed, testEnv, type ErrorJson } from './helpers.ts';

const e = testEnv(env as unknown as Bindings, { GUARD_MAX_ACCURACY_DROP: '1' });
beforeAll(async () => {
  await seed(e);
});

const pixel = fc.oneof(
  fc.integer({ min: -2, max: 300 }),
  fc.double(),
  fc.constant(null),
  fc.string({ maxLength: 2 }),
);
const image = fc.oneof(
  fc.array(pixel, { minLength: 782, maxLength: 786 }),
  fc.array(fc.array(pixel, { minLength: 27, maxLength: 29 }), { minLength: 27, maxLength: 29 }),
  fc.anything(),
);
const scale = fc.oneof(fc.constantFrom('0-255', '0-1'), fc.anything());
/** Bodies near the valid shape (so validation goes deep) mixed with arbitrary JSON. */
const predictBody = fc.oneof(
  fc.record({ pixelScale: scale, image }, { requiredKeys: [] }),
  fc.record({ pixelScale: scale, images: fc.array(image, { maxLength: 3 }) }, { requiredKeys: [] }),
  fc.jsonValue(),
);
const fineTuneBody = fc.oneof(
  fc.record(
    {
      pixelScale: scale,
      examples: fc.array(
        fc.record({ image, label: fc.oneof(fc.integer({ min: -1, max: 11 }), fc.anything()) }),
        {
          maxLength: 2,
        },
      ),
      steps: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.anything()),
      learningRate: fc.oneof(fc.double({ min: -1, max: 2 }), fc.anything()),
      l1: fc.oneof(fc.double({ min: -0.01, max: 0.02 }), fc.anything()),
      l2: fc.oneof(fc.double({ min: -0.01, max: 0.02 }), fc.anything()),
      dryRun: fc.oneof(fc.constant(true), fc.anything()),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue(),
);

let client = 0;

async function expectNo500(path: string, body: unknown): Promise<void> {
  // A different client address each time, so the fine-tune rate limit never answers in validation's place.
  const headers = { 'CF-Connecting-IP': `client-${client++}` };
  const res = await app.request(path, post(JSON.stringify(body) ?? 'null', undefined, headers), e);
  expect(res.status, JSON.stringify(body)?.slice(0, 200)).not.toBe(500);
  expect(res.status).not.toBe(429);
  if (res.status >= 400) {
    const err = (await res.json()) as ErrorJson;
    expect(typeof err.error.code).toBe('string');
    expect(typeof err.error.message).toBe('string');
  } else {
    await res.body?.cancel();
  }
}

describe('any request body', () => {
  it('should never make /predict answer 500', async () => {
    await fc.assert(
      fc.asyncProperty(predictBody, (body) => expectNo500('/predict', body)),
      { numRuns: 150, seed: 1 },
    );
  });

  it('should never make /fine-tune answer 500', async () => {
    await fc.assert(
      fc.asyncProperty(fineTuneBody, (body) => expectNo500('/fine-tune', body)),
      { numRuns: 150, seed: 2 },
    );
  });
});
