import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseUciDigits, uciDigitSets } from '../../scripts/lib/uci-digits.ts';

const line = (label: number, v = 16) =>
  [...Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? v : 0)), label].join(',');

describe('UCI optical digits', () => {
  it('parses gzip or plain CSV: 64 pixels 0-16 and a label per line', () => {
    const text = `${line(3)}\n${line(7, 5)}\n`;
    for (const bytes of [Buffer.from(text), gzipSync(text)]) {
      const { pixels, labels } = parseUciDigits(new Uint8Array(bytes));
      expect(Array.from(labels)).toEqual([3, 7]);
      expect(pixels[1][0]).toBe(5);
      expect(pixels[0]).toHaveLength(64);
    }
    expect(() => parseUciDigits(new Uint8Array(Buffer.from(`${line(3)}\n1,2,3\n`)))).toThrow(/line 2/);
    expect(() => parseUciDigits(new Uint8Array(Buffer.from(line(10))))).toThrow(/line 1/);
    expect(() => parseUciDigits(new Uint8Array(Buffer.from(line(1, 17))))).toThrow(/line 1/);
  });

  it('makes the framed and the unframed rows, or none without the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uci-'));
    const path = join(dir, 'digits.csv.gz');
    writeFileSync(path, gzipSync(`${line(1)}\n${line(2)}\n`));
    const sets = uciDigitSets(path)!;
    expect(sets.map((s) => [s.name, s.images.length, s.images[0].width])).toEqual([
      ['other writers', 2, 10],
      ['other writers, no margin', 2, 8],
    ]);
    const framed = sets[0].images[0];
    expect(framed.maxValue).toBe(16);
    // The margin is paper; the 8×8 sits inside it unchanged.
    expect(Array.from(framed.data as Uint8Array).slice(0, 10)).toEqual(Array(10).fill(0));
    expect((framed.data as Uint8Array)[11]).toBe(16);
    expect(Array.from(sets[1].labels!)).toEqual([1, 2]);
    expect(uciDigitSets(join(dir, 'absent.csv.gz'))).toBeNull();
  });
});
