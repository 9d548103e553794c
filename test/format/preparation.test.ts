import { describe, expect, it } from 'vitest';
import { preparationFor, preparationOf } from '../../src/format/index.ts';

const meta = (training?: Record<string, unknown>) => ({
  dataset: 'mnist',
  createdAt: '2026-12-01T00:00:00.000Z',
  ...(training ? { training } : {}),
});

describe("a model's preparation from its metadata", () => {
  it('should read the recipe: none, plain, or deskewed', () => {
    expect(preparationOf(meta())).toBeNull();
    expect(preparationOf(meta({ preprocess: false, deskew: true }))).toBeNull();
    // A model from before deskewing existed has no `deskew` key: prepared as it was trained.
    expect(preparationOf(meta({ preprocess: true }))).toEqual({ deskew: false });
    expect(preparationOf(meta({ preprocess: true, deskew: true }))).toEqual({ deskew: true });
    expect(preparationOf(meta({ preprocess: true, deskew: 'yes' }))).toEqual({ deskew: false });
  });

  it("should let a request's preprocess field win, preparing as the recipe did", () => {
    const deskewed = meta({ preprocess: true, deskew: true });
    const raw = meta({ preprocess: false });
    expect(preparationFor(deskewed, undefined)).toEqual({ deskew: true });
    expect(preparationFor(deskewed, null)).toEqual({ deskew: true });
    expect(preparationFor(deskewed, true)).toEqual({ deskew: true });
    expect(preparationFor(deskewed, false)).toBeNull();
    expect(preparationFor(raw, undefined)).toBeNull();
    // Asked for on a model trained on raw images: the plain MNIST-style preparation.
    expect(preparationFor(raw, true)).toEqual({ deskew: false });
  });
});
