import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/format/index.ts';
import { publishBlob } from '../../scripts/lib/model-bucket.ts';
import type { ModelStore } from '../../src/worker/model-store.ts';
import { checkServable, UnservableError } from '../../src/worker/servable.ts';
import { makeModel } from './helpers.ts';

function blob(sizes: number[], alpha: number): Uint8Array {
  const count = sizes.slice(1).reduce((n, out, i) => n + out * sizes[i] + out, 0);
  return encodeModel({
    sizes,
    alpha,
    encoding: 'f32',
    params: new Float32Array(count).fill(0.01),
    metadata: { dataset: 'synthetic', createdAt: '2026-01-01T00:00:00Z' },
  });
}

function reasonOf(bytes: Uint8Array): string {
  try {
    checkServable(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(UnservableError);
    return (err as UnservableError).reason;
  }
  return 'servable';
}

describe('checkServable', () => {
  it('should accept what the network runs, and return it decoded', () => {
    const { blob: good } = makeModel(1);
    expect(checkServable(good).sizes).toEqual([784, 32, 10]);
    expect(reasonOf(blob([784, 8, 10], 0))).toBe('servable');
    expect(reasonOf(blob([784, 8, 10], 0.99))).toBe('servable');
  });

  it('should refuse a LeakyReLU slope of 1, which the format alone accepts', () => {
    expect(reasonOf(blob([784, 8, 10], 1))).toBe('unsupported');
  });

  it('should refuse a network that is not 784-…-10, and bytes that do not decode', () => {
    expect(reasonOf(blob([784, 8, 5], 0.01))).toBe('unsupported');
    expect(reasonOf(blob([100, 8, 10], 0.01))).toBe('unsupported');
    expect(reasonOf(new Uint8Array([1, 2, 3]))).toBe('corrupt');
    const { blob: good } = makeModel(1);
    expect(reasonOf(good.slice(0, good.length - 10))).toBe('corrupt');
  });
});

describe('publishBlob', () => {
  it('should refuse an unservable blob before touching the bucket', async () => {
    const untouchable = new Proxy({} as ModelStore, {
      get: (_, key) => {
        throw new Error(`the store was used (${String(key)})`);
      },
    });
    await expect(publishBlob(untouchable, blob([784, 8, 10], 1), null)).rejects.toThrowError(UnservableError);
  });
});
