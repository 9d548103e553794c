/**
 * `GET /model`'s description of the serving model reads only what it prints: for an int8 blob it never makes the
 * float copy of the weights (`params`, dequantized on first read), which serving never needs either.
 */
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, paramCount } from '../../src/format/index.ts';
import { describeServing } from '../../src/worker/model-info.ts';
import { createRng } from '../../src/nn/rng.ts';

const SIZES = [784, 16, 10];

function int8Blob(): Uint8Array {
  const rand = createRng(5);
  const params = Float32Array.from({ length: paramCount(SIZES) }, () => rand() - 0.5);
  return encodeModel({
    sizes: SIZES,
    alpha: 0.01,
    encoding: 'int8',
    params,
    metadata: { dataset: 'synthetic', createdAt: new Date(0).toISOString() },
  });
}

describe('describeServing', () => {
  it('should count the parameters of an int8 model without making its float copy', () => {
    const blob = int8Blob();
    const model = decodeModel(blob);
    Object.defineProperty(model, 'params', {
      get: () => {
        throw new Error('params was read');
      },
    });
    const pointer = { current: 'v1', history: [] };
    const info = describeServing({
      serving: { version: 'v1', model, blobBytes: blob.length },
      pointer,
      stale: null,
    });
    expect(info.parameters).toBe(paramCount(SIZES));
    expect(info.parameters).toBe(decodeModel(blob).params.length);
    expect(info).toMatchObject({ version: 'v1', sizes: SIZES, encoding: 'int8', blobBytes: blob.length });
  });
});
