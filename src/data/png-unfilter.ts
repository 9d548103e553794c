/**
 * @module
 * The PNG row filters reversed (None, Sub, Up, Average, Paeth), for plain and Adam7-interlaced images: the
 * inflated scanlines, already exactly the size the header implies, into the image's samples. By hand rather than
 * fast-png's decoder, which would have to be handed a re-encoded PNG (a zlib pass to write, another to read) and
 * cost twice this at the pixel limit. Pure (typed arrays only). Not inflating (see `png.ts`).
 */
import { ADAM7, PngError, type PngHeader } from './png-chunks.ts';

/**
 * Unfilters `rows` rows of `rowBytes` bytes each from `src` at `at` (each row led by its filter type byte) into
 * `out` from 0; `bpp` is the filter's pixel step in bytes (at least 1). Returns the offset after the last row.
 * @throws {PngError} `BAD_DATA` on a filter type past 4.
 */
function unfilterRows(
  src: Uint8Array,
  at: number,
  rowBytes: number,
  rows: number,
  bpp: number,
  out: Uint8Array,
): number {
  for (let y = 0; y < rows; y++, at += rowBytes + 1) {
    const type = src[at];
    const s = at + 1;
    const o = y * rowBytes;
    // The row above; the first row has none (zeros), which makes Up a copy and Paeth a Sub.
    const up = y > 0 ? o - rowBytes : -1;
    if (type === 0 || (type === 2 && up < 0)) {
      out.set(src.subarray(s, s + rowBytes), o);
    } else if (type === 1 || (type === 4 && up < 0)) {
      for (let i = 0; i < rowBytes; i++) out[o + i] = src[s + i] + (i >= bpp ? out[o + i - bpp] : 0);
    } else if (type === 2) {
      for (let i = 0; i < rowBytes; i++) out[o + i] = src[s + i] + out[up + i];
    } else if (type === 3) {
      for (let i = 0; i < rowBytes; i++) {
        const left = i >= bpp ? out[o + i - bpp] : 0;
        out[o + i] = src[s + i] + ((left + (up < 0 ? 0 : out[up + i])) >> 1);
      }
    } else if (type === 4) {
      for (let i = 0; i < bpp; i++) out[o + i] = src[s + i] + out[up + i];
      for (let i = bpp; i < rowBytes; i++) {
        const a = out[o + i - bpp];
        const b = out[up + i];
        const c = out[up + i - bpp];
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        out[o + i] = src[s + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
    } else {
      throw new PngError('BAD_DATA', `scanline ${y} has filter type ${type}; only 0-4 exist`, {
        row: y,
        filter: type,
      });
    }
  }
  return at;
}

/** Big-endian 16-bit samples joined. */
function toSamples16(bytes: Uint8Array): Uint16Array {
  const out = new Uint16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
  return out;
}

/**
 * The image's samples from its inflated scanlines: one per channel, row by row; below 8 bits still packed, each
 * row padded to a byte; 16-bit samples as a `Uint16Array`. Interlaced images are put together from their seven
 * passes (only at 8 or 16 bits: `readHeader` refuses packed ones).
 * @throws {PngError} `BAD_DATA` on a filter type past 4.
 */
export function unfilter(header: PngHeader, scanlines: Uint8Array): Uint8Array | Uint16Array {
  const { width, height, depth, channels } = header;
  const bitsPerPixel = channels * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const rowBytes = Math.ceil((width * bitsPerPixel) / 8);
  const out = new Uint8Array(rowBytes * height);
  if (!header.interlaced) {
    unfilterRows(scanlines, 0, rowBytes, height, bpp, out);
  } else {
    let at = 0;
    for (const [x0, y0, dx, dy] of ADAM7) {
      const passWidth = Math.ceil(Math.max(0, width - x0) / dx);
      const passHeight = Math.ceil(Math.max(0, height - y0) / dy);
      if (passWidth === 0 || passHeight === 0) continue;
      const pass = new Uint8Array(passWidth * bpp * passHeight);
      at = unfilterRows(scanlines, at, passWidth * bpp, passHeight, bpp, pass);
      for (let py = 0, p = 0; py < passHeight; py++) {
        for (let px = 0, o = ((y0 + py * dy) * width + x0) * bpp; px < passWidth; px++, o += dx * bpp) {
          for (let k = 0; k < bpp; k++) out[o + k] = pass[p++];
        }
      }
    }
  }
  return depth === 16 ? toSamples16(out) : out;
}
