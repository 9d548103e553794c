import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT } from '../../scripts/lib/augment.ts';
import { prepareExamples } from '../../scripts/lib/batches.ts';
import { calibrationSet, recipeOf, type CalibrationRecipe } from '../../scripts/lib/calibration-set.ts';
import type { Examples } from '../../scripts/lib/dataset.ts';

/** `count` 28×28 images, each a bar of ink in its own place, labelled 0, 1, 2, … */
function bars(count: number): Examples {
  const images = new Float32Array(count * 784);
  for (let i = 0; i < count; i++) {
    for (let y = 6; y < 22; y++)
      for (let x = 10 + (i % 6); x < 14 + (i % 6); x++) images[i * 784 + y * 28 + x] = 1;
  }
  return { count, images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10) };
}

const recipe: CalibrationRecipe = {
  seed: 1,
  preprocess: false,
  augmentation: { ...DEFAULT_AUGMENT, clean: 0 },
};

describe('calibrationSet', () => {
  it('should give the validation split as it is for clean, prepared when the recipe prepares', () => {
    const raw = bars(12);
    expect(calibrationSet(raw, 'clean', recipe).images).toEqual(raw.images);
    const prepared = calibrationSet(raw, 'clean', { ...recipe, preprocess: true });
    expect(prepared.images).toEqual(prepareExamples(raw).images);
    expect(prepared.images).not.toEqual(raw.images);
  });

  it('should augment every image once, reproducibly, keeping labels and the pixel range', () => {
    const raw = bars(12);
    const a = calibrationSet(raw, 'augmented', recipe);
    expect(a.count).toBe(12);
    expect(a.labels).toEqual(raw.labels);
    expect(calibrationSet(raw, 'augmented', recipe).images).toEqual(a.images);
    expect(calibrationSet(raw, 'augmented', recipe, 12345).images).not.toEqual(a.images);
    for (let i = 0; i < 12; i++) {
      expect(a.images.subarray(i * 784, (i + 1) * 784)).not.toEqual(
        raw.images.subarray(i * 784, (i + 1) * 784),
      );
    }
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(1);
  });

  it('should put every image once clean and once augmented in mixed', () => {
    const raw = bars(8);
    const m = calibrationSet(raw, 'mixed', recipe);
    expect(m.count).toBe(16);
    expect(m.images.subarray(0, 8 * 784)).toEqual(raw.images);
    expect(m.images.subarray(8 * 784)).toEqual(calibrationSet(raw, 'augmented', recipe).images);
    expect(Array.from(m.labels)).toEqual([...raw.labels, ...raw.labels]);
  });

  it('should refuse augmented or mixed for a recipe without augmentation', () => {
    const none = { ...recipe, augmentation: null };
    expect(calibrationSet(bars(2), 'clean', none).count).toBe(2);
    expect(() => calibrationSet(bars(2), 'augmented', none)).toThrow(/augmentation/);
    expect(() => calibrationSet(bars(2), 'mixed', none)).toThrow(/augmentation/);
  });
});

describe('recipeOf', () => {
  const training = { seed: 7, preprocess: true, augment: true, ...DEFAULT_AUGMENT, epochs: 40 };

  it('should read the seed, the preparation and the augmentation from metadata.training', () => {
    expect(recipeOf(training)).toEqual({
      seed: 7,
      preprocess: true,
      deskew: false,
      augmentation: DEFAULT_AUGMENT,
    });
    expect(recipeOf({ ...training, deskew: true })?.deskew).toBe(true);
  });

  it('should have no augmentation for a model trained without it, and no recipe without a seed', () => {
    expect(recipeOf({ ...training, augment: false })?.augmentation).toBeNull();
    expect(recipeOf({ ...training, seed: undefined })).toBeNull();
    expect(recipeOf(undefined)).toBeNull();
  });
});
