import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { describe, expect, it } from 'vitest';
import { fromPixels, preprocess } from '../../src/data/preprocess.ts';
import { parseTrainArgs } from '../../scripts/lib/train-options.ts';
import { typedCount, withTypedDigits } from '../../scripts/lib/training-setup.ts';
import { fontFamilies } from '../../scripts/lib/browser-digits.ts';
import { appendExamples } from '../../scripts/lib/dataset.ts';
import {
  EVAL_FAMILIES,
  fontFaces,
  isTrainingFamily,
  renderTypedDigits,
  TYPED_NON_DIGITS,
} from '../../scripts/lib/typed-digits.ts';

const faces = fontFaces();

describe('typed digits for training', () => {
  it('finds the installed font packages, every face a latin WOFF2 with a weight and a style', () => {
    const families = new Set(faces.map((f) => f.family));
    expect(families.size).toBeGreaterThanOrEqual(38);
    expect(faces.length).toBeGreaterThan(families.size);
    for (const face of faces) {
      expect(face.file).toMatch(/-latin-\d+-(normal|italic)\.woff2$/);
      expect(face.weight).toBeGreaterThanOrEqual(100);
    }
    expect(faces.some((f) => f.style === 'italic')).toBe(true);
  });

  it('never trains on the families the typed row measures on, nor their twins', () => {
    // The typed row leaves out whatever the machine has that training types in (Noto Sans, say)…
    const trained = new Set(faces.map((f) => f.family));
    for (const family of fontFamilies()) {
      expect(trained.has(family.toLowerCase().replace(/ /g, '-')), family).toBe(false);
    }
    expect(isTrainingFamily('Noto Sans', faces)).toBe(true);
    expect(isTrainingFamily('roboto-slab', faces)).toBe(true);
    expect(isTrainingFamily('DejaVu Sans', faces)).toBe(false);
    // … and training refuses this machine's designs under their twins' names (Arimo is Liberation Sans).
    const dir = mkdtempSync(join(tmpdir(), 'fonts-'));
    try {
      for (const family of ['dejavu-sans', 'liberation-serif', 'arimo', 'roboto']) {
        mkdirSync(join(dir, family, 'files'), { recursive: true });
        writeFileSync(join(dir, family, 'files', `${family}-latin-400-normal.woff2`), '');
        writeFileSync(join(dir, family, 'files', `${family}-cyrillic-400-normal.woff2`), '');
      }
      expect(fontFaces(dir).map((f) => f.family)).toEqual(['roboto']);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  const a = renderTypedDigits(60, 7, faces);

  it('is seeded: the same seed gives the same images, another seed others', () => {
    const b = renderTypedDigits(60, 7, faces);
    const c = renderTypedDigits(60, 8, faces);
    expect(b.images).toEqual(a.images);
    expect(c.images).not.toEqual(a.images);
  });

  it('cycles the labels and keeps pixels in [0,1], white ink on black', () => {
    expect(Array.from(a.labels.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    for (let i = 0; i < a.count; i++) {
      const image = a.images.subarray(i * 784, (i + 1) * 784);
      let ink = 0;
      for (const v of image) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        ink += v;
      }
      // A glyph, not an empty frame nor a filled one; the corners are background.
      expect(ink).toBeGreaterThan(15);
      expect(ink).toBeLessThan(784 * 0.5);
      expect(Math.max(...image)).toBeGreaterThan(0.9);
      // The preparation accepts it as it accepts an MNIST digit.
      expect(() => preprocess(fromPixels(image))).not.toThrow();
    }
  });

  it('draws every family’s own digits and typed non-digits, never a fallback font (one known gap)', () => {
    const draw = (font: string, text: string) => {
      const canvas = createCanvas(64, 64);
      const g = canvas.getContext('2d');
      g.font = font;
      g.fillStyle = '#fff';
      g.fillText(text, 8, 52);
      return Buffer.from(g.getImageData(0, 0, 64, 64).data);
    };
    const byFamily = new Map(faces.map((f) => [f.family, f]));
    const fallbacks: string[] = [];
    for (const [family, face] of byFamily) {
      const alias = `typed-test-${family}`;
      GlobalFonts.registerFromPath(face.file, alias);
      for (const c of '0123456789' + TYPED_NON_DIGITS) {
        const own = draw(`${face.weight} 48px "${alias}"`, c);
        if (own.equals(draw(`${face.weight} 48px "no-such-family-${family}"`, c)))
          fallbacks.push(`${family} ${c}`);
      }
    }
    // Arvo's latin subset has no euro sign: Skia draws that one non-digit in another face.
    expect(fallbacks).toEqual(['arvo €']);
  });

  it('appends to a training split without touching it', () => {
    const train = { count: 2, images: new Float32Array(2 * 784).fill(0.5), labels: Uint8Array.of(3, 4) };
    const joined = appendExamples(train, a);
    expect(joined.count).toBe(62);
    expect(joined.images.subarray(0, 1568).every((v) => v === 0.5)).toBe(true);
    expect(joined.images.subarray(1568)).toEqual(a.images);
    expect(Array.from(joined.labels.subarray(0, 3))).toEqual([3, 4, 0]);
    expect(train.count).toBe(2);
  });

  it('is added to MNIST runs by default, to others only when asked, and never to validation', () => {
    expect(typedCount(parseTrainArgs([]), 'mnist', 57000)).toBe(6000);
    expect(typedCount(parseTrainArgs([]), 'mnist', 950)).toBe(100);
    expect(typedCount(parseTrainArgs([]), 'fashion-mnist', 57000)).toBe(0);
    expect(typedCount(parseTrainArgs(['--typed', '0']), 'mnist', 57000)).toBe(0);
    expect(typedCount(parseTrainArgs(['--typed', '25']), 'fashion-mnist', 57000)).toBe(25);
    expect(() => parseTrainArgs(['--typed', '-1'])).toThrow(/typed/);
    const train = { count: 3, images: new Float32Array(3 * 784), labels: Uint8Array.of(1, 2, 3) };
    const lines: string[] = [];
    expect(withTypedDigits(train, parseTrainArgs(['--typed', '0']), 'mnist', (l) => lines.push(l))).toBe(
      train,
    );
    const joined = withTypedDigits(train, parseTrainArgs(['--typed', '20']), 'mnist', (l) => lines.push(l));
    expect(joined.count).toBe(23);
    expect(Array.from(joined.labels.subarray(3, 6))).toEqual([0, 1, 2]);
    expect(lines.join('\n')).toMatch(/20 typed digits in \d+ faces of \d+ font families/);
  });
});
