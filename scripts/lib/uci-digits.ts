/**
 * @module
 * Digits by other writers: UCI's optical recognition of handwritten digits (the test set, 1,797 digits by 13
 * writers who are not MNIST's), as scikit-learn ships it. NIST's forms were normalised to fill a 32×32 box and
 * counted in 4×4 blocks, so each digit is 8×8 at 17 levels (0-16), ink on every edge. Debian's `python3-sklearn`
 * has the file; `apt-get download python3-sklearn && dpkg-deb -x python3-sklearn_*.deb DIR` gets it without
 * installing SciPy. Read only by `eval-robustness`; never trained on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { RobustnessSet } from './robustness.ts';

/** Where Debian's `python3-sklearn` puts the file. */
export const UCI_DIGITS = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

/** Parses the CSV (gzip or not): 64 pixels then the label per line. */
export function parseUciDigits(bytes: Uint8Array): { pixels: Uint8Array[]; labels: Uint8Array } {
  const text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : Buffer.from(bytes)).toString();
  const pixels: Uint8Array[] = [];
  const labels: number[] = [];
  for (const [n, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const values = line.split(',').map(Number);
    const bad =
      values.length !== 65 || values.some((v, i) => !Number.isInteger(v) || v < 0 || v > (i < 64 ? 16 : 9));
    if (bad) throw new Error(`UCI digits line ${n + 1}: expected 64 pixels 0-16 and a label 0-9`);
    pixels.push(Uint8Array.from(values.slice(0, 64)));
    labels.push(values[64]);
  }
  return { pixels, labels: Uint8Array.from(labels) };
}

/** The two rows: the 8×8 pictures as they are, and with a one-pixel margin of paper. Null when `path` is absent. */
export function uciDigitSets(path = UCI_DIGITS): RobustnessSet[] | null {
  if (!existsSync(path)) return null;
  const { pixels, labels } = parseUciDigits(new Uint8Array(readFileSync(path)));
  const framed = (p: Uint8Array) => {
    const data = new Uint8Array(100);
    for (let y = 0; y < 8; y++) data.set(p.subarray(y * 8, y * 8 + 8), (y + 1) * 10 + 1);
    return { width: 10, height: 10, channels: 1 as const, data, maxValue: 16 };
  };
  const about = `${pixels.length} digits by 13 writers not in MNIST (UCI optdigits), 8×8 at 17 levels`;
  return [
    {
      name: 'other writers',
      description: `${about}, with a 1 px margin`,
      overlap: 'held out',
      images: pixels.map(framed),
      labels,
    },
    {
      name: 'other writers, no margin',
      description: `${about}, as scanned (ink on the frame)`,
      overlap: 'held out',
      images: pixels.map((data) => ({ width: 8, height: 8, channels: 1, data, maxValue: 16 })),
      labels,
    },
  ];
}
