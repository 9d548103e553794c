import { describe, expect, it } from 'vitest';
import { isBlank } from '../../src/data/verdict.ts';
import { UNIFORM_TARGET } from '../../src/nn/index.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import {
  BLANK_KINDS,
  HELD_OUT_KINDS,
  makeBlanks,
  NegativeSource,
  TRAIN_KINDS,
} from '../../scripts/lib/negatives.ts';
import { OutlierExposure, trainingNegatives } from '../../scripts/lib/outlier-exposure.ts';
import { LETTERS, SYMBOLS } from '../../scripts/lib/glyphs.ts';
import { renderTypedGlyphs, TYPED_NON_DIGITS } from '../../scripts/lib/typed-digits.ts';

const fashion = Float32Array.from({ length: 3 * 784 }, (_, i) => ((i * 7919) % 255) / 255);
const typed = renderTypedGlyphs(TYPED_NON_DIGITS, 21, 4).images;
const kinds = [...TRAIN_KINDS, ...HELD_OUT_KINDS];

describe('NegativeSource', () => {
  it('should draw every kind as a 28×28 input in [0, 1] with ink, the same for the same seed', () => {
    const a = new NegativeSource({ seed: 3, kinds, fashion, typed });
    const b = new NegativeSource({ seed: 3, kinds, fashion, typed });
    for (const kind of kinds) {
      const x = a.batch(kind, 5);
      expect(b.batch(kind, 5)).toEqual(x);
      for (let i = 0; i < 5; i++) {
        const img = x.subarray(i * 784, (i + 1) * 784);
        expect(Math.min(...img)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...img)).toBeLessThanOrEqual(1);
        expect(
          img.reduce((s, v) => s + v, 0),
          kind,
        ).toBeGreaterThan(10);
      }
    }
  });

  it('should draw other images from another seed', () => {
    const x = new NegativeSource({ seed: 1, kinds: ['scribble'] }).batch('scribble', 3);
    const y = new NegativeSource({ seed: 2, kinds: ['scribble'] }).batch('scribble', 3);
    expect(x).not.toEqual(y);
  });

  it('should refuse no kinds, and clothing without images', () => {
    expect(() => new NegativeSource({ seed: 1, kinds: [] })).toThrow(RangeError);
    expect(() => new NegativeSource({ seed: 1, kinds: ['fashion'] })).toThrow(/Fashion-MNIST/);
    expect(() => new NegativeSource({ seed: 1, kinds: ['typed'], fashion })).toThrow(/typed pictures/);
  });

  it('should type only characters that are no digit and that the held-out kinds do not draw', () => {
    const chars = [...TYPED_NON_DIGITS];
    for (const c of chars) {
      expect(Object.keys(LETTERS)).not.toContain(c);
      expect(Object.keys(SYMBOLS)).not.toContain(c);
      // Characters a reader could take for a digit are never trained as non-digits.
      expect('0123456789OoQDIlij|ZzBSsGbgqp/()$').not.toContain(c);
    }
    expect(new Set(chars).size).toBe(chars.length);
  });

  it('should give a training run typed letters and signs when the fonts are installed', () => {
    const negatives = trainingNegatives('/nonexistent-fashion', 1);
    expect(negatives.kinds).toContain('typed');
    expect(negatives.kinds).not.toContain('fashion');
    expect(negatives.typed!.length).toBe(6000 * 784);
    expect(negatives.note).toMatch(/typed \(no Fashion-MNIST/);
  });

  it('should keep the held-out kinds out of the training kinds', () => {
    for (const kind of HELD_OUT_KINDS) expect(TRAIN_KINDS as readonly string[]).not.toContain(kind);
  });
});

describe('makeBlanks', () => {
  it('should make near-blank pictures that the verdict names blank', () => {
    for (const kind of BLANK_KINDS) {
      const images = makeBlanks(kind, 20, 5);
      expect(images).toHaveLength(20);
      expect(images.every(isBlank), kind).toBe(true);
    }
  });
});

describe('OutlierExposure', () => {
  it('should append its non-digits with uniform targets after the digits of a batch', () => {
    const kernels = createTsKernels();
    const oe = new OutlierExposure(
      { seed: 1, rows: 4, batch: 8, pool: 16, kinds: ['lines', 'noise'] },
      kernels,
    );
    const digits = Float32Array.from({ length: 8 * 784 }, (_, i) => (i % 784) / 784);
    const labels = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const x = oe.mix(digits, labels, 6);
    expect(x.subarray(0, 6 * 784)).toEqual(digits.subarray(0, 6 * 784));
    expect(Array.from(oe.labels.subarray(0, 10))).toEqual([
      1,
      2,
      3,
      4,
      5,
      6,
      ...Array(4).fill(UNIFORM_TARGET),
    ]);
    for (let i = 6; i < 10; i++) expect(x.subarray(i * 784, (i + 1) * 784).some((v) => v > 0)).toBe(true);
    oe.dispose();
  });
});
