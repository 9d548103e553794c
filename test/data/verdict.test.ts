import { describe, expect, it } from 'vitest';
import { fromPixels } from '../../src/data/preprocess.ts';
import {
  applyTemperature,
  DEFAULT_POLICY,
  inkStats,
  isBlank,
  isBlankInk,
  isConfidenceThreshold,
  judge,
} from '../../src/data/verdict.ts';

const probsWith = (entries: Record<number, number>) => {
  const p = new Float32Array(10);
  const rest = 1 - Object.values(entries).reduce((a, b) => a + b, 0);
  const others = 10 - Object.keys(entries).length;
  for (let j = 0; j < 10; j++) p[j] = entries[j] ?? rest / others;
  return p;
};

describe('judge', () => {
  it('should call a clear digit confident and give its digit and confidence', () => {
    const j = judge(probsWith({ 3: 0.98 }));
    expect(j).toMatchObject({ verdict: 'confident', digit: 3 });
    expect(j.confidence).toBeCloseTo(0.98, 6);
  });

  it('should call a digit under the threshold, or too close to the runner-up, uncertain, still naming it', () => {
    expect(judge(probsWith({ 4: 0.8, 9: 0.15 }))).toMatchObject({ verdict: 'uncertain', digit: 4 });
    const close = judge(probsWith({ 4: 0.55, 9: 0.42 }), { ...DEFAULT_POLICY, minConfidence: 0.5 });
    expect(close).toMatchObject({ verdict: 'uncertain', digit: 4 });
    expect(close.margin).toBeCloseTo(0.13, 5);
  });

  it('should call probabilities spread over many classes not a digit', () => {
    expect(judge(new Float32Array(10).fill(0.1))).toMatchObject({ verdict: 'not_a_digit', digit: 0 });
    expect(judge(probsWith({ 1: 0.4, 7: 0.2 })).verdict).toBe('not_a_digit');
  });

  it('should follow the threshold it is given', () => {
    const p = probsWith({ 5: 0.93 });
    expect(judge(p).verdict).toBe('confident');
    expect(judge(p, { ...DEFAULT_POLICY, minConfidence: 0.95 }).verdict).toBe('uncertain');
    expect(judge(p, { ...DEFAULT_POLICY, minConfidence: 1 }).verdict).toBe('uncertain');
  });
});

describe('applyTemperature', () => {
  it('should equal softmax(logits / T) for the logits behind the probabilities', () => {
    const logits = [1, 3, -2, 0.5, 0, 0, 0, 2, 1, -1];
    const softmax = (z: number[]) => {
      const s = z.reduce((a, v) => a + Math.exp(v), 0);
      return z.map((v) => Math.exp(v) / s);
    };
    const p = Float32Array.from(softmax(logits));
    applyTemperature(p, 10, 2);
    softmax(logits.map((v) => v / 2)).forEach((v, j) => expect(p[j]).toBeCloseTo(v, 6));
  });

  it('should keep the argmax, soften with T > 1, sharpen with T < 1, and handle rows and zeros', () => {
    const rows = Float32Array.from([...probsWith({ 2: 0.9 }), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const soft = applyTemperature(rows.slice(), 10, 1.5);
    const sharp = applyTemperature(rows.slice(), 10, 0.5);
    expect(soft[2]).toBeLessThan(0.9);
    expect(sharp[2]).toBeGreaterThan(0.9);
    expect(soft[13]).toBe(1);
    for (const r of [soft, sharp]) expect(r.slice(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('should refuse a temperature that is not a positive finite number', () => {
    for (const t of [0, -1, NaN, Infinity])
      expect(() => applyTemperature(new Float32Array(10), 10, t)).toThrow(RangeError);
  });
});

describe('isBlank', () => {
  const image = (fill: (i: number) => number) =>
    fromPixels(Float32Array.from({ length: 784 }, (_, i) => fill(i)));

  it('should name empty, white, grey and faintly noisy pictures blank', () => {
    expect(isBlank(image(() => 0))).toBe(true);
    expect(isBlank(image(() => 1))).toBe(true);
    expect(isBlank(image(() => 0.5))).toBe(true);
    expect(isBlank(image((i) => (i % 7) * 0.012))).toBe(true);
  });

  it('should name a few stray pixels and a small dot blank, but not a thin stroke across the frame', () => {
    expect(isBlank(image((i) => ([40, 400, 700].includes(i) ? 1 : 0)))).toBe(true);
    expect(
      isBlank(image((i) => ([13, 14].includes(i % 28) && [13, 14].includes(Math.floor(i / 28)) ? 1 : 0))),
    ).toBe(true);
    const stroke = image((i) => (i % 28 === 14 && i > 4 * 28 && i < 24 * 28 ? 1 : 0));
    expect(isBlank(stroke)).toBe(false);
    expect(inkStats(stroke).extent).toBeCloseTo(20 / 28, 6);
  });

  it('should see dark ink on light paper as ink', () => {
    const dark = image((i) => (i % 28 === 10 && i > 4 * 28 && i < 24 * 28 ? 0 : 1));
    expect(isBlank(dark)).toBe(false);
  });
});

describe('isConfidenceThreshold', () => {
  it('should accept numbers in (0, 1] only', () => {
    for (const v of [0.5, 1, 1e-9]) expect(isConfidenceThreshold(v)).toBe(true);
    for (const v of [0, -0.1, 1.01, NaN, '0.5', null]) expect(isConfidenceThreshold(v)).toBe(false);
  });
});

describe('inkStats fast path', () => {
  it('should see one-channel images as the preprocessing does (toInk of toGray)', async () => {
    const { toGray, toInk } = await import('../../src/data/preprocess.ts');
    const images = [
      Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 100),
      Array.from({ length: 784 }, (_, i) => (i % 28 === 9 ? 0.1 : 0.95)),
      Array.from({ length: 784 }, () => 0.5),
    ];
    for (const pixels of images) {
      const img = fromPixels(Float32Array.from(pixels));
      const ink = toInk(toGray(img), 28, 28);
      const mass = ink.reduce((a, b) => a + b, 0) / 784;
      expect(inkStats(img).mass).toBeCloseTo(mass, 5);
      // The same picture as RGB takes the general path.
      const rgb = {
        width: 28,
        height: 28,
        channels: 3 as const,
        data: pixels.flatMap((v) => [v, v, v]),
        maxValue: 1,
      };
      expect(inkStats(rgb).mass).toBeCloseTo(mass, 4);
    }
  });
});

describe('one ink map for the blank test and the preparation', () => {
  it('should give what isBlank and preprocess give from the picture itself', async () => {
    const { preprocess, preprocessInk, toGray, toInk, PreprocessError } =
      await import('../../src/data/preprocess.ts');
    const pictures = [
      Array.from({ length: 784 }, (_, i) => (i % 28 > 8 && i % 28 < 12 && i > 100 && i < 650 ? 0.9 : 0)),
      Array.from({ length: 784 }, (_, i) =>
        Math.hypot((i % 28) - 12, Math.floor(i / 28) - 15) < 6 ? 0.1 : 1,
      ),
      Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 400),
      Array.from({ length: 784 }, () => 0),
    ];
    let prepared = 0;
    for (const pixels of pictures) {
      const img = fromPixels(Float32Array.from(pixels));
      const ink = toInk(toGray(img), 28, 28);
      expect(isBlankInk(ink, 28, 28)).toBe(isBlank(img));
      let direct: Float32Array | null = null;
      try {
        direct = preprocess(img);
      } catch (error) {
        expect(error).toBeInstanceOf(PreprocessError);
        expect(() => preprocessInk(ink, 28, 28)).toThrow(PreprocessError);
        continue;
      }
      expect(preprocessInk(ink, 28, 28)).toEqual(direct);
      prepared++;
    }
    expect(prepared).toBeGreaterThanOrEqual(2);
  });
});
