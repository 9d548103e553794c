/**
 * @module
 * PNG decoding bounded before any work is done: the chunk walk (`png-chunks.ts`) checks everything it can
 * without inflating, then the image data is inflated as a stream that stops the moment it passes the exact size
 * the header implies (its zlib header and Adler-32 checked here), then the row filters are reversed
 * (`png-unfilter.ts`). Pure (typed arrays, fflate); no
 * Node or Workers APIs. Not body reading or multipart (see `src/worker/body.ts`).
 */
import { Inflate } from 'fflate';
import { adler32 } from './adler32.ts';
import type { RasterImage } from './preprocess.ts';
import { DEFAULT_PNG_LIMITS, PngError, readPngLayout, type PngHeader, type PngLimits } from './png-chunks.ts';
import { unfilter } from './png-unfilter.ts';

export {
  DEFAULT_PNG_LIMITS,
  PngError,
  readPngLayout,
  type PngErrorCode,
  type PngLimits,
} from './png-chunks.ts';

/**
 * The most compressed bytes handed to the inflater at a time. Deflate expands at most ~1032:1, so one step of this
 * size can overshoot by ~4 MiB before the count is checked; smaller steps cost more per byte (fflate allocates and
 * copies its 32 KiB window at every step). Steps shrink when little output is left to expect (`inflateStep`).
 */
export const INFLATE_STEP = 4096;
/** The fewest compressed bytes handed to the inflater at a time. */
export const MIN_INFLATE_STEP = 256;
/** How far past the expected size one step may inflate, at most (deflate's ratio ≤ 1032:1 bounds it). */
export const INFLATE_SLACK = 256 * 1024;

/**
 * The compressed bytes to feed next when `remaining` output bytes are still expected: no more than can inflate to
 * `remaining + INFLATE_SLACK`, so a bomb allocates a few hundred KiB before it is refused, not megabytes. Used for
 * the first step and after any step that inflated 64:1 or more; steps that inflate like image data stay full.
 */
export function inflateStep(remaining: number): number {
  const bound = Math.floor((Math.max(0, remaining) + INFLATE_SLACK) / 1032);
  return Math.min(INFLATE_STEP, Math.max(MIN_INFLATE_STEP, bound));
}

/**
 * Inflates the IDAT stream to exactly `expected` bytes, fed `INFLATE_STEP` bytes at a time so that it stops as
 * soon as the output passes `expected` (a bomb never lands), and refuses a stream that is corrupt, ends short, is
 * followed by anything but its Adler-32, or whose Adler-32 does not match what it inflated to. fflate rather than
 * the platform's `DecompressionStream`: workerd's inflates each written chunk whole into its own buffer (a 1 GB
 * bomb written in 1 KiB pieces took seconds there however early the reader cancelled), so it cannot be bounded
 * from JavaScript.
 * @throws {PngError} `BAD_DATA`.
 */
export function inflateExact(parts: readonly Uint8Array[], expected: number): Uint8Array {
  const steps = inflating(parts, expected);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/** Compressed bytes fed between two pauses of `decodePngInSteps` (32 KiB: ~1 ms of workerd CPU on noise). */
export const BYTES_PER_TURN = 8 * INFLATE_STEP;

/**
 * What is read of fflate's `Inflate` beyond its API (fflate is pinned in package.json; `png.test.ts` checks this
 * reading on real streams): `s.f`, the last block begun was the final one; `s.l`, a block is still open; `s.p`,
 * the bit position in `p`, the bytes pushed and not yet consumed. The stream has ended when `s.f && !s.l`
 * (fflate's own test); its `Unzlib` neither checks the Adler-32 nor says where the stream ended.
 */
interface InflateInternals {
  s: { f?: number; l?: unknown; p?: number };
  p: Uint8Array;
}

/** The bytes pushed past the end of the deflate stream, or null while it has not ended. */
function pushedPastEnd(inflater: Inflate): Uint8Array | null {
  const { s, p } = inflater as unknown as InflateInternals;
  if (!s.f || s.l) return null;
  return p.subarray(Math.ceil((s.p ?? 0) / 8));
}

/** Refuses a zlib header other than PNG's: deflate (CM 8) with a window ≤ 32 KiB, FCHECK right, no dictionary. */
function checkZlibHeader(cmf: number, flg: number): void {
  const problem =
    (cmf & 15) !== 8
      ? `compression method ${cmf & 15}, not deflate (8)`
      : cmf >> 4 > 7
        ? `a window of 2^${(cmf >> 4) + 8} bytes`
        : ((cmf << 8) | flg) % 31 !== 0
          ? 'a header check (FCHECK) that fails'
          : flg & 0x20
            ? 'a preset dictionary'
            : null;
  if (problem) throw new PngError('BAD_DATA', `the image data's zlib stream has ${problem}`, { cmf, flg });
}

/** `inflateExact` as a generator that yields every `BYTES_PER_TURN` compressed bytes; returns the scanlines. */
function* inflating(parts: readonly Uint8Array[], expected: number): Generator<void, Uint8Array, void> {
  const out = new Uint8Array(expected);
  let size = 0;
  const inflater = new Inflate((chunk) => {
    if (size + chunk.length > expected) {
      throw new PngError(
        'BAD_DATA',
        `the image data inflates to more than the ${expected} bytes its header implies`,
        { expected },
      );
    }
    out.set(chunk, size);
    size += chunk.length;
  });
  const header: number[] = [];
  /** The bytes after the deflate stream (its Adler-32, at most 4 of them), once it has ended. */
  let trailer: number[] | null = null;
  const trailing = () =>
    new PngError('BAD_DATA', 'bytes follow the compressed image data and its Adler-32 checksum', {
      expected,
    });
  try {
    let fed = 0;
    // Full steps while the data inflates like an image's (< 64:1); bounded ones while it inflates like a bomb.
    let ratio = Infinity;
    for (const part of parts) {
      let at = 0;
      while (header.length < 2 && at < part.length) {
        header.push(part[at++]);
        if (header.length === 2) checkZlibHeader(header[0], header[1]);
      }
      while (at < part.length) {
        if (trailer) {
          // Refused at once rather than read: an early end followed by 2 MiB of anything costs nothing.
          if (trailer.length + part.length - at > 4) throw trailing();
          trailer.push(...part.subarray(at));
          break;
        }
        const step = ratio < 64 ? INFLATE_STEP : inflateStep(expected - size);
        const before = size;
        inflater.push(part.subarray(at, at + step));
        ratio = (size - before) / step;
        at += step;
        fed += step;
        const past = pushedPastEnd(inflater);
        if (past) {
          if (past.length > 4) throw trailing();
          trailer = [...past];
        }
        if (fed >= BYTES_PER_TURN) {
          fed = 0;
          yield;
        }
      }
    }
  } catch (err) {
    if (err instanceof PngError) throw err;
    throw new PngError('BAD_DATA', 'the compressed image data is corrupt', {
      cause: err instanceof Error ? err.message : String(err),
    });
  }
  if (!trailer) {
    throw new PngError('BAD_DATA', 'the compressed image data ends before its final block', {
      expected,
      inflated: size,
    });
  }
  if (size !== expected) {
    throw new PngError(
      'BAD_DATA',
      `the image data inflates to ${size} bytes; its header implies ${expected}`,
      {
        expected,
        inflated: size,
      },
    );
  }
  if (trailer.length < 4) {
    throw new PngError('BAD_DATA', 'the compressed image data ends without its Adler-32 checksum', {
      expected,
    });
  }
  const stored = ((trailer[0] << 24) | (trailer[1] << 16) | (trailer[2] << 8) | trailer[3]) >>> 0;
  const actual = adler32(out);
  if (stored !== actual) {
    throw new PngError(
      'BAD_DATA',
      `the image data's Adler-32 checksum is ${hex(stored)}; what it inflates to sums to ${hex(actual)}`,
      { stored: hex(stored), actual: hex(actual) },
    );
  }
  return out;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Unpacks 1/2/4-bit grey rows (each padded to a byte) into one sample per pixel. */
function unpackBits(data: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (data[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * Palette indices (packed at `depth` bits, rows padded to a byte) expanded to RGB or RGBA. By hand rather than
 * fast-png's `convertIndexedToRgb`, which costs ~30 ms at the pixel limit and throws an untyped error on an
 * index past the palette.
 * @throws {PngError} `BAD_PALETTE` naming the first pixel whose index has no entry.
 */
export function expandPalette(
  indices: Uint8Array,
  width: number,
  height: number,
  depth: number,
  palette: readonly number[][],
): Uint8Array {
  const ch = palette[0].length;
  const table = new Uint8Array(256 * ch);
  palette.forEach((entry, i) => table.set(entry, i * ch));
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(width * height * ch);
  for (let y = 0, o = 0; y < height; y++) {
    for (let x = 0; x < width; x++, o += ch) {
      const bit = x * depth;
      const index = (indices[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
      if (index >= palette.length) {
        throw new PngError(
          'BAD_PALETTE',
          `pixel (${x}, ${y}) uses palette entry ${index}; the palette has ${palette.length}`,
          { x, y, index, entries: palette.length },
        );
      }
      for (let c = 0; c < ch; c++) out[o + c] = table[index * ch + c];
    }
  }
  return out;
}

/** The unfiltered samples as a `RasterImage`: palette expanded to RGB(A), packed grey unpacked. */
function toRaster(
  header: PngHeader,
  samples: Uint8Array | Uint16Array,
  palette: number[][] | undefined,
): RasterImage {
  const { width, height, depth } = header;
  if (palette) {
    const data = expandPalette(samples as Uint8Array, width, height, depth, palette);
    return { width, height, channels: palette[0].length as 3 | 4, data, maxValue: 255 };
  }
  const channels = header.channels as 1 | 2 | 3 | 4;
  if (depth < 8) {
    const data = unpackBits(samples as Uint8Array, width, height, depth);
    return { width, height, channels, data, maxValue: (1 << depth) - 1 };
  }
  return { width, height, channels, data: samples, maxValue: depth === 16 ? 65535 : 255 };
}

/**
 * Decodes a PNG to a `RasterImage` at a cost bounded by `limits` before any work: every chunk is walked and
 * checked first, only IDAT is inflated and only up to the exact size the header implies.
 * @throws {PngError} every refusal, never anything else for any input.
 */
export function decodePng(bytes: Uint8Array, limits: PngLimits = DEFAULT_PNG_LIMITS): RasterImage {
  const layout = readPngLayout(bytes, limits);
  const scanlines = inflateExact(layout.idat, layout.header.inflatedBytes);
  return toRaster(layout.header, unfilter(layout.header, scanlines), layout.palette);
}

/**
 * `decodePng` with `between()` awaited after the chunk walk, every `BYTES_PER_TURN` compressed bytes of inflating and after
 * it, so that a caller sharing its thread (a worker isolate) can let other work run between the costly steps.
 * Same answers, same refusals.
 * @throws {PngError} as `decodePng`.
 */
export async function decodePngInSteps(
  bytes: Uint8Array,
  between: () => Promise<void>,
  limits: PngLimits = DEFAULT_PNG_LIMITS,
): Promise<RasterImage> {
  const layout = readPngLayout(bytes, limits);
  await between();
  const steps = inflating(layout.idat, layout.header.inflatedBytes);
  let step = steps.next();
  while (!step.done) {
    await between();
    step = steps.next();
  }
  const scanlines = step.value;
  await between();
  return toRaster(layout.header, unfilter(layout.header, scanlines), layout.palette);
}
