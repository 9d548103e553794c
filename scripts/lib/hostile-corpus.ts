/**
 * @module
 * The hostile-upload corpus of issue #11, generated (deterministically, in milliseconds) rather than stored:
 * decompression bombs in every compressed chunk kind, huge declared sizes, palette edge cases, 16-bit,
 * interlaced, APNG, truncations, CRC damage, multipart abuse, and the most expensive uploads still accepted.
 * Each case says what the decoder and the worker must answer. Pure, so Node and workerd tests share it;
 * `scripts/make-hostile-corpus.ts` writes it to files. Not a test itself.
 */
import { DEFAULT_PNG_LIMITS, type PngErrorCode } from '../../src/data/png.ts';
import { ADAM7 } from '../../src/data/png-chunks.ts';
import {
  chunk,
  concat,
  ihdr,
  keyword,
  png,
  scanlines,
  SIGNATURE,
  text,
  zlib,
  zlibBomb,
} from './png-build.ts';

export interface HostileCase {
  name: string;
  contentType: string;
  body: Uint8Array;
  /** What `decodePng` must do with the PNG inside (absent when the body never reaches the decoder). */
  decoder?: PngErrorCode | 'accepted';
  /** What `POST /predict` must answer: status and, for errors, the JSON error code. */
  status: number;
  error?: string;
}

/** The worker's answer to each decoder refusal (`PNG_ERRORS` in `src/worker/predict.ts` must agree). */
export const HTTP_OF_PNG_ERROR: Record<PngErrorCode, { status: number; error: string }> = {
  NOT_PNG: { status: 415, error: 'unsupported_image' },
  UNSUPPORTED: { status: 415, error: 'unsupported_image' },
  TOO_LARGE: { status: 413, error: 'image_too_large' },
  TRUNCATED: { status: 400, error: 'bad_image' },
  BAD_CRC: { status: 400, error: 'bad_image' },
  BAD_CHUNK: { status: 400, error: 'bad_image' },
  BAD_HEADER: { status: 400, error: 'bad_image' },
  BAD_PALETTE: { status: 400, error: 'bad_image' },
  BAD_DATA: { status: 400, error: 'bad_image' },
};

/** Body cap of the upload routes (`MAX_IMAGE_BODY` in the worker). */
export const MAX_BODY = 2 * 1024 * 1024;
const GB = 1e9;
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A deterministic xorshift generator in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * Samples of a dark ring (a "0") on a light background, with `noise` (0-1) of random jitter in the background.
 * Palette images get index 1 for ink and 0 for paper; alpha channels are opaque.
 */
function digit(width: number, height: number, depth: number, colorType: number, noise = 0): Uint16Array {
  const ch = CHANNELS[colorType];
  const max = colorType === 3 ? 1 : 2 ** depth - 1;
  const out = new Uint16Array(width * height * ch);
  const random = rng(width * 7919 + height);
  const cx = width / 2;
  const cy = height / 2;
  const r = Math.min(width, height) * 0.35;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = Math.hypot(x - cx, y - cy);
      const ink = Math.abs(d - r) < Math.max(1, r * 0.15);
      const paper = max - Math.floor(random() * noise * max * 0.3);
      const v = colorType === 3 ? (ink ? 1 : 0) : ink ? 0 : paper;
      for (let c = 0; c < ch; c++) {
        const alpha = (colorType === 4 || colorType === 6) && c === ch - 1;
        out[(y * width + x) * ch + c] = alpha ? max : v;
      }
    }
  }
  return out;
}

/** A whole PNG of the digit: IHDR, `extra` chunks before the data, IDAT, IEND. */
function digitPng(
  width: number,
  height: number,
  opts: { depth?: number; colorType?: number; filter?: number; noise?: number; extra?: Uint8Array[] } = {},
): Uint8Array {
  const { depth = 8, colorType = 0, filter = 0, noise = 0, extra = [] } = opts;
  const lines = scanlines(
    width,
    height,
    depth,
    colorType,
    digit(width, height, depth, colorType, noise),
    filter,
  );
  const plte = colorType === 3 ? [chunk('PLTE', Uint8Array.of(255, 255, 255, 0, 0, 0))] : [];
  return png([ihdr(width, height, depth, colorType), ...plte, ...extra, chunk('IDAT', zlib(lines))]);
}

/** The 28×28 grey digit every other case is a variation of. */
const base = () => digitPng(28, 28);

/** `bytes` with the 4 bytes at `offset` replaced by `value` (CRCs left as they were). */
function patchU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(offset, value);
  return out;
}

/** `bytes` with its last byte XORed with `mask` (for a zlib stream: a wrong Adler-32). */
function patchLast(bytes: Uint8Array, mask: number): Uint8Array {
  const out = bytes.slice();
  out[out.length - 1] ^= mask;
  return out;
}

/** A zlib stream with its compression method (the low nibble of its first byte) set to `method`, FCHECK fixed. */
function patchFirst(bytes: Uint8Array, method: number): Uint8Array {
  const out = bytes.slice();
  out[0] = (out[0] & 0xf0) | method;
  out[1] = (out[1] & 0xe0) | (31 - (((out[0] << 8) | (out[1] & 0xe0)) % 31));
  return out;
}

/**
 * `data` (< 64 KiB) as a valid zlib stream the way a flushing encoder may write it: a stored block, an empty
 * stored block (a sync flush) and an empty final fixed-Huffman block, so the stream ends after the output does.
 */
function flushedStored(data: Uint8Array): Uint8Array {
  const stored = (final: number, bytes: Uint8Array) =>
    concat(
      Uint8Array.of(
        final,
        bytes.length & 0xff,
        bytes.length >> 8,
        ~bytes.length & 0xff,
        (~bytes.length >> 8) & 0xff,
      ),
      bytes,
    );
  const adler = zlib(data).subarray(-4);
  return concat(
    Uint8Array.of(0x78, 0x01),
    stored(0, data),
    stored(0, new Uint8Array(0)),
    Uint8Array.of(0x03, 0x00),
    adler,
  );
}

/** Adam7-interlaced scanlines of a w×h 8-bit image with `ch` channels (filter 0 in every pass). */
function adam7(width: number, height: number, ch: number, samples: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 * width * height * ch + 7 * height);
  let at = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    if (x0 >= width || y0 >= height) continue;
    for (let y = y0; y < height; y += dy) {
      out[at++] = 0;
      for (let x = x0; x < width; x += dx) {
        for (let c = 0; c < ch; c++) out[at++] = samples[(y * width + x) * ch + c];
      }
    }
  }
  return out.slice(0, at);
}

/** Largest w×h (w = 2h-ish) whose scanlines fit the default limits at `bitsPerPixel`. */
function largest(bitsPerPixel: number): [number, number] {
  const { maxPixels, maxInflatedBytes, maxSide } = DEFAULT_PNG_LIMITS;
  for (let h = Math.floor(Math.sqrt(maxPixels / 2)); h > 0; h--) {
    const w = Math.min(maxSide, 2 * h);
    if (w * h <= maxPixels && h * (1 + Math.ceil((w * bitsPerPixel) / 8)) <= maxInflatedBytes) return [w, h];
  }
  throw new Error('no size fits');
}

const PNG_TYPE = 'image/png';

function pngCase(name: string, body: Uint8Array, decoder: PngErrorCode | 'accepted'): HostileCase {
  const http = decoder === 'accepted' ? { status: 200 } : HTTP_OF_PNG_ERROR[decoder];
  return { name, contentType: PNG_TYPE, body, decoder, ...http };
}

/** A multipart/form-data body with `parts` (each its headers and content) and a closing boundary. */
function multipart(
  boundary: string,
  parts: { headers: string; body: Uint8Array }[],
  close = true,
): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (const part of parts)
    pieces.push(text(`--${boundary}\r\n${part.headers}\r\n\r\n`), part.body, text('\r\n'));
  if (close) pieces.push(text(`--${boundary}--\r\n`));
  return concat(...pieces);
}

const filePart = (body: Uint8Array, name = 'image') => ({
  headers: `Content-Disposition: form-data; name="${name}"; filename="d.png"\r\nContent-Type: image/png`,
  body,
});
const fieldPart = (name: string, value: string) => ({
  headers: `Content-Disposition: form-data; name="${name}"`,
  body: text(value),
});

/** The PNG cases, each checked by the decoder's Node tests and sent through the worker. */
export function hostilePngCases(): HostileCase[] {
  const ok = base();
  const plainLines = scanlines(28, 28, 8, 0, digit(28, 28, 8, 0));
  const idat = chunk('IDAT', zlib(plainLines));
  const head = ihdr(28, 28, 8, 0);
  const iccp = (size: number) => chunk('iCCP', concat(keyword('p'), Uint8Array.of(0), zlibBomb(size)));
  const ztxt = (size: number) => chunk('zTXt', concat(keyword('Comment'), Uint8Array.of(0), zlibBomb(size)));
  // iTXt: keyword, compressed flag 1, method 0, empty language and translated keyword, then the stream.
  const itxt = (size: number) =>
    chunk('iTXt', concat(keyword('XML'), Uint8Array.of(1, 0, 0, 0), zlibBomb(size)));
  const fcTL = (seq: number) =>
    chunk('fcTL', concat(...[seq, 28, 28, 0, 0].map(u32be), Uint8Array.of(0, 1, 0, 10, 0, 0)));
  const pal = (...rgb: number[]) => chunk('PLTE', Uint8Array.from(rgb));
  const lines4 = scanlines(28, 28, 4, 3, digit(28, 28, 4, 3));
  const [gw, gh] = largest(8);
  const [rw, rh] = largest(32);
  const [ww, wh] = largest(64);
  const [iw, ih] = largest(24);
  const idatAt = 33; // signature 8 + IHDR 25
  const cases: HostileCase[] = [
    pngCase('valid-gray8-28x28', ok, 'accepted'),
    // Bombs in every compressed chunk kind: ancillary ones are skipped unread, IDAT stops at the header's size.
    pngCase('bomb-iccp-1GB', png([head, iccp(GB), idat]), 'accepted'),
    pngCase('bomb-ztxt-1GB', png([head, ztxt(GB), idat]), 'accepted'),
    pngCase('bomb-itxt-1GB', png([head, itxt(GB), idat]), 'accepted'),
    pngCase('bomb-every-ancillary-600MB', png([head, iccp(6e8), ztxt(6e8), itxt(6e8), idat]), 'accepted'),
    pngCase('bomb-idat-1GB-in-28x28', png([head, chunk('IDAT', zlibBomb(GB))]), 'BAD_DATA'),
    pngCase(
      'bomb-idat-1GB-at-pixel-limit',
      png([ihdr(gw, gh, 8, 0), chunk('IDAT', zlibBomb(GB))]),
      'BAD_DATA',
    ),
    pngCase(
      'apng-bomb-in-fdat',
      png([
        head,
        chunk('acTL', concat(u32be(2), u32be(0))),
        fcTL(0),
        idat,
        fcTL(1),
        chunk('fdAT', concat(u32be(2), zlibBomb(GB))),
      ]),
      'accepted',
    ),
    // Declared sizes.
    pngCase('size-2^31-1-square', png([ihdr(0x7fffffff, 0x7fffffff, 8, 0), idat]), 'TOO_LARGE'),
    pngCase('size-over-2^31', png([ihdr(0x80000000, 1, 8, 0), idat]), 'BAD_HEADER'),
    pngCase('size-zero-width', png([ihdr(0, 28, 8, 0), idat]), 'BAD_HEADER'),
    pngCase('size-side-over-limit', png([ihdr(DEFAULT_PNG_LIMITS.maxSide + 1, 1, 8, 0), idat]), 'TOO_LARGE'),
    pngCase('size-pixels-over-limit', png([ihdr(gw + 2, gh, 8, 0), idat]), 'TOO_LARGE'),
    pngCase('size-inflated-over-limit-rgba16', png([ihdr(ww, wh + 2, 16, 6), idat]), 'TOO_LARGE'),
    pngCase('issue-4096x512-rgba16-stripes', issueStripes(), 'TOO_LARGE'),
    // The most expensive uploads still accepted (the bench times them).
    pngCase(`max-gray8-${gw}x${gh}-paeth-noise`, digitPng(gw, gh, { filter: 4, noise: 1 }), 'accepted'),
    pngCase(
      `max-rgba8-${rw}x${rh}-paeth`,
      digitPng(rw, rh, { colorType: 6, filter: 4, noise: 0.2 }),
      'accepted',
    ),
    pngCase(
      `max-rgba16-${ww}x${wh}-paeth`,
      digitPng(ww, wh, { colorType: 6, depth: 16, filter: 4 }),
      'accepted',
    ),
    pngCase(`max-gray1-${gw}x${gh}`, digitPng(gw, gh, { depth: 1, filter: 1 }), 'accepted'),
    pngCase(`max-palette8-${gw}x${gh}`, digitPng(gw, gh, { colorType: 3, filter: 2 }), 'accepted'),
    pngCase(
      `max-interlaced-rgb8-${iw}x${ih}`,
      png([ihdr(iw, ih, 8, 2, 1), chunk('IDAT', zlib(adam7(iw, ih, 3, digit(iw, ih, 8, 2))))]),
      'accepted',
    ),
    // Palettes.
    pngCase(
      'palette-4bit-with-trns',
      png([
        ihdr(28, 28, 4, 3),
        pal(255, 255, 255, 0, 0, 0),
        chunk('tRNS', Uint8Array.of(255, 128)),
        chunk('IDAT', zlib(lines4)),
      ]),
      'accepted',
    ),
    pngCase('palette-1bit', digitPng(28, 28, { colorType: 3, depth: 1 }), 'accepted'),
    pngCase(
      'palette-short-plte',
      png([
        ihdr(28, 28, 8, 3),
        pal(0, 0, 0, 255, 255, 255),
        chunk('IDAT', zlib(scanlines(28, 28, 8, 3, new Uint8Array(784).fill(200)))),
      ]),
      'BAD_PALETTE',
    ),
    pngCase('palette-missing-plte', png([ihdr(28, 28, 8, 3), idat]), 'BAD_PALETTE'),
    pngCase('palette-plte-length-not-x3', png([ihdr(28, 28, 8, 3), pal(0, 0, 0, 255), idat]), 'BAD_PALETTE'),
    pngCase(
      'palette-plte-257-entries',
      png([ihdr(28, 28, 8, 3), chunk('PLTE', new Uint8Array(771)), idat]),
      'BAD_PALETTE',
    ),
    pngCase('palette-plte-empty', png([ihdr(28, 28, 8, 3), chunk('PLTE'), idat]), 'BAD_PALETTE'),
    pngCase(
      'palette-plte-over-bit-depth',
      png([ihdr(28, 28, 1, 3), pal(0, 0, 0, 1, 1, 1, 2, 2, 2), idat]),
      'BAD_PALETTE',
    ),
    pngCase(
      'palette-trns-longer-than-plte',
      png([
        ihdr(28, 28, 4, 3),
        pal(0, 0, 0, 9, 9, 9),
        chunk('tRNS', Uint8Array.of(1, 2, 3)),
        chunk('IDAT', zlib(lines4)),
      ]),
      'BAD_PALETTE',
    ),
    pngCase(
      'palette-trns-before-plte',
      png([
        ihdr(28, 28, 4, 3),
        chunk('tRNS', Uint8Array.of(1)),
        pal(0, 0, 0, 9, 9, 9),
        chunk('IDAT', zlib(lines4)),
      ]),
      'BAD_CHUNK',
    ),
    pngCase(
      'plte-after-idat-rgb',
      png([
        ihdr(28, 28, 8, 2),
        chunk('IDAT', zlib(scanlines(28, 28, 8, 2, digit(28, 28, 8, 2)))),
        pal(0, 0, 0),
      ]),
      'BAD_CHUNK',
    ),
    pngCase(
      'palette-two-plte',
      png([ihdr(28, 28, 4, 3), pal(0, 0, 0), pal(0, 0, 0), chunk('IDAT', zlib(lines4))]),
      'BAD_CHUNK',
    ),
    pngCase('plte-in-gray-image', png([head, pal(0, 0, 0), idat]), 'BAD_PALETTE'),
    pngCase(
      'trns-in-rgba-image',
      png([ihdr(28, 28, 8, 6), chunk('tRNS', new Uint8Array(6)), idat]),
      'BAD_PALETTE',
    ),
    pngCase('trns-gray-wrong-length', png([head, chunk('tRNS', new Uint8Array(3)), idat]), 'BAD_PALETTE'),
    // 16-bit and interlaced.
    pngCase('gray16', digitPng(28, 28, { depth: 16 }), 'accepted'),
    pngCase('rgba16', digitPng(28, 28, { depth: 16, colorType: 6, filter: 3 }), 'accepted'),
    pngCase(
      'interlaced-rgb8',
      png([ihdr(28, 28, 8, 2, 1), chunk('IDAT', zlib(adam7(28, 28, 3, digit(28, 28, 8, 2))))]),
      'accepted',
    ),
    pngCase('interlaced-gray1', png([ihdr(28, 28, 1, 0, 1), idat]), 'UNSUPPORTED'),
    pngCase('interlaced-header-plain-data', png([ihdr(28, 28, 8, 0, 1), idat]), 'BAD_DATA'),
    // IHDR fields.
    pngCase('header-color-type-5', png([ihdr(28, 28, 8, 5), idat]), 'BAD_HEADER'),
    pngCase('header-rgb-depth-4', png([ihdr(28, 28, 4, 2), idat]), 'BAD_HEADER'),
    pngCase('header-palette-depth-16', png([ihdr(28, 28, 16, 3), idat]), 'BAD_HEADER'),
    pngCase('header-depth-3', png([ihdr(28, 28, 3, 0), idat]), 'BAD_HEADER'),
    pngCase(
      'header-compression-1',
      png([chunk('IHDR', concat(u32be(28), u32be(28), Uint8Array.of(8, 0, 1, 0, 0))), idat]),
      'BAD_HEADER',
    ),
    pngCase(
      'header-filter-1',
      png([chunk('IHDR', concat(u32be(28), u32be(28), Uint8Array.of(8, 0, 0, 1, 0))), idat]),
      'BAD_HEADER',
    ),
    pngCase('header-interlace-2', png([ihdr(28, 28, 8, 0, 2), idat]), 'BAD_HEADER'),
    pngCase(
      'header-ihdr-12-bytes',
      png([chunk('IHDR', concat(u32be(28), u32be(28), Uint8Array.of(8, 0, 0, 0))), idat]),
      'BAD_HEADER',
    ),
    // The image data.
    pngCase(
      'idat-one-byte-too-many',
      png([head, chunk('IDAT', zlib(concat(plainLines, Uint8Array.of(0))))]),
      'BAD_DATA',
    ),
    pngCase('idat-one-byte-short', png([head, chunk('IDAT', zlib(plainLines.subarray(1)))]), 'BAD_DATA'),
    pngCase(
      'idat-bad-zlib-header',
      png([head, chunk('IDAT', concat(Uint8Array.of(0x78, 0x00), zlib(plainLines).subarray(2)))]),
      'BAD_DATA',
    ),
    pngCase(
      'idat-stream-cut-in-half',
      png([head, chunk('IDAT', zlib(plainLines).subarray(0, 40))]),
      'BAD_DATA',
    ),
    // The zlib stream's own framing: the checksum it ends with, nothing after it (fflate's Unzlib checks neither).
    pngCase('idat-adler32-wrong', png([head, chunk('IDAT', patchLast(zlib(plainLines), 1))]), 'BAD_DATA'),
    pngCase('idat-adler32-missing', png([head, chunk('IDAT', zlib(plainLines).subarray(0, -4))]), 'BAD_DATA'),
    pngCase(
      'idat-bytes-after-adler32',
      png([head, chunk('IDAT', concat(zlib(plainLines), new Uint8Array(50).fill(7)))]),
      'BAD_DATA',
    ),
    pngCase(
      'idat-second-zlib-stream',
      png([head, chunk('IDAT', concat(zlib(plainLines), zlib(new Uint8Array(100))))]),
      'BAD_DATA',
    ),
    // An early end then 1.5 MB: refused at the end of the stream, not read (fflate copies what is pushed after it).
    pngCase(
      'idat-1.5MB-after-the-stream',
      png([head, chunk('IDAT', concat(zlib(plainLines), new Uint8Array(1_500_000)))]),
      'BAD_DATA',
    ),
    pngCase(
      'idat-zlib-method-15',
      png([head, chunk('IDAT', patchFirst(zlib(plainLines), 0x0f))]),
      'BAD_DATA',
    ),
    pngCase(
      'idat-adler32-in-its-own-chunks',
      png([
        head,
        chunk('IDAT', zlib(plainLines).subarray(0, -3)),
        chunk('IDAT', zlib(plainLines).subarray(-3, -1)),
        chunk('IDAT', zlib(plainLines).subarray(-1)),
      ]),
      'accepted',
    ),
    pngCase('idat-flushed-stored-blocks', png([head, chunk('IDAT', flushedStored(plainLines))]), 'accepted'),
    pngCase('iend-with-data', png([head, idat, chunk('IEND', text('x'))], false), 'BAD_CHUNK'),
    pngCase(
      'idat-filter-type-7',
      png([head, chunk('IDAT', zlib(plainLines.map((v, i) => (i % 29 === 0 ? 7 : v))))]),
      'BAD_DATA',
    ),
    pngCase('idat-missing', png([head]), 'BAD_DATA'),
    pngCase('idat-only-empty-chunks', png([head, chunk('IDAT'), chunk('IDAT')]), 'BAD_DATA'),
    pngCase(
      'idat-split-by-other-chunk',
      png([
        head,
        chunk('IDAT', zlib(plainLines).subarray(0, 20)),
        chunk('tEXt', text('a\0b')),
        chunk('IDAT', zlib(plainLines).subarray(20)),
      ]),
      'BAD_CHUNK',
    ),
    pngCase(
      'idat-split-at-chunk-limit',
      png([head, ...Array.from({ length: DEFAULT_PNG_LIMITS.maxChunks - 3 }, () => chunk('IDAT')), idat]),
      'accepted',
    ),
    // Framing, CRCs, order.
    pngCase('truncated-signature-only', SIGNATURE, 'TRUNCATED'),
    pngCase('truncated-in-ihdr', ok.subarray(0, 20), 'TRUNCATED'),
    pngCase('truncated-in-idat', ok.subarray(0, idatAt + 20), 'TRUNCATED'),
    pngCase('truncated-no-iend', png([head, idat], false), 'TRUNCATED'),
    pngCase('chunk-length-4GB', patchU32(ok, idatAt, 0xffffffff), 'TRUNCATED'),
    pngCase('crc-ihdr', patchU32(ok, 29, 0), 'BAD_CRC'),
    pngCase('crc-idat', png([head, chunk('IDAT', zlib(plainLines), 12345)]), 'BAD_CRC'),
    pngCase(
      'crc-iccp-bomb',
      png([head, chunk('iCCP', concat(keyword('p'), Uint8Array.of(0), zlibBomb(GB)), 1), idat]),
      'BAD_CRC',
    ),
    pngCase('order-first-chunk-not-ihdr', png([chunk('tEXt', text('a\0b')), head, idat]), 'BAD_CHUNK'),
    pngCase('order-two-ihdr', png([head, head, idat]), 'BAD_CHUNK'),
    pngCase('chunk-unknown-critical', png([head, chunk('QQQQ', new Uint8Array(4)), idat]), 'UNSUPPORTED'),
    pngCase('chunk-type-not-letters', png([head, chunk('12ab', new Uint8Array(4)), idat]), 'BAD_CHUNK'),
    pngCase(
      'chunk-count-over-limit',
      png([
        head,
        ...Array.from({ length: DEFAULT_PNG_LIMITS.maxChunks }, () => chunk('tEXt', text('k\0'))),
        idat,
      ]),
      'TOO_LARGE',
    ),
    pngCase('trailing-bytes-after-iend', concat(ok, new Uint8Array(1000).fill(7)), 'accepted'),
    // Not PNG at all.
    pngCase('not-png-empty', new Uint8Array(0), 'NOT_PNG'),
    pngCase('not-png-jpeg', Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0), 'NOT_PNG'),
  ];
  return cases;
}

/** The upload of issue #11: a 17 KB 4096×512 16-bit RGBA PNG of stripes that once cost 0.3-0.6 s to decode. */
function issueStripes(): Uint8Array {
  const width = 4096;
  const height = 512;
  const row = new Uint8Array(1 + width * 8);
  for (let x = 0; x < width; x++) row.fill((x >> 4) & 1 ? 0xff : 0, 1 + x * 8, 1 + x * 8 + 8);
  const lines = new Uint8Array(row.length * height);
  for (let y = 0; y < height; y++) lines.set(row, y * row.length);
  return png([ihdr(width, height, 16, 6), chunk('IDAT', zlib(lines))]);
}

function u32be(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** Bodies that abuse the upload framing rather than the PNG: multipart forms and sizes. */
export function hostileBodyCases(): HostileCase[] {
  const ok = base();
  const b = 'x-boundary-7';
  const form = `multipart/form-data; boundary=${b}`;
  const bomb = png([
    ihdr(28, 28, 8, 0),
    chunk('iCCP', concat(keyword('p'), Uint8Array.of(0), zlibBomb(GB))),
    ...pngTail(),
  ]);
  const shortPalette = hostilePngCases().find((c) => c.name === 'palette-short-plte')!.body;
  const decoy = fieldPart('decoy', `x--${b}--`);
  return [
    { name: 'multipart-valid', contentType: form, body: multipart(b, [filePart(ok)]), status: 200 },
    {
      name: 'multipart-no-boundary-param',
      contentType: 'multipart/form-data',
      body: multipart(b, [filePart(ok)]),
      status: 400,
      error: 'bad_form',
    },
    {
      name: 'multipart-wrong-boundary',
      contentType: `multipart/form-data; boundary=other`,
      body: multipart(b, [filePart(ok)]),
      status: 400,
      error: 'bad_form',
    },
    {
      name: 'multipart-unterminated',
      contentType: form,
      body: multipart(b, [filePart(ok)], false),
      status: 400,
      error: 'bad_form',
    },
    {
      name: 'multipart-no-file',
      contentType: form,
      body: multipart(b, [fieldPart('preprocess', '1')]),
      status: 400,
      error: 'missing_image',
    },
    {
      name: 'multipart-20k-parts',
      contentType: form,
      body: multipart(b, [
        ...Array.from({ length: 20_000 }, (_, i) => fieldPart(`f${i}`, 'v')),
        filePart(ok),
      ]),
      status: 400,
      error: 'bad_form',
    },
    {
      name: 'multipart-1MB-part-header',
      contentType: form,
      body: multipart(b, [
        { ...filePart(ok), headers: `${filePart(ok).headers}\r\nX-Pad: ${'a'.repeat(1 << 20)}` },
      ]),
      status: 400,
      error: 'bad_form',
    },
    // A `--boundary--` inside a part's content is content (RFC 2046, and workerd's parser): it must not end the
    // shape check, or the parts after it go uncounted.
    {
      name: 'multipart-decoy-close-in-content',
      contentType: form,
      body: multipart(b, [filePart(ok), decoy]),
      status: 200,
    },
    {
      name: 'multipart-decoy-close-then-30k-parts',
      contentType: form,
      body: multipart(b, [filePart(ok), decoy, ...Array.from({ length: 30_000 }, () => fieldPart('f', ''))]),
      status: 400,
      error: 'bad_form',
    },
    {
      name: 'multipart-decoy-close-then-2MB-part-header',
      contentType: form,
      body: multipart(b, [
        filePart(ok),
        decoy,
        {
          ...fieldPart('f', ''),
          headers: `${fieldPart('f', '').headers}\r\nX-Pad: ${'a'.repeat(2_000_000)}`,
        },
      ]),
      status: 400,
      error: 'bad_form',
    },
    { name: 'multipart-iccp-bomb', contentType: form, body: multipart(b, [filePart(bomb)]), status: 200 },
    {
      name: 'multipart-short-palette',
      contentType: form,
      body: multipart(b, [filePart(shortPalette)]),
      status: 400,
      error: 'bad_image',
    },
    {
      name: 'body-over-limit-png',
      contentType: PNG_TYPE,
      body: concat(ok, new Uint8Array(MAX_BODY)),
      status: 413,
      error: 'body_too_large',
    },
    {
      name: 'body-over-limit-multipart',
      contentType: form,
      body: multipart(b, [filePart(concat(ok, new Uint8Array(MAX_BODY)))]),
      status: 413,
      error: 'body_too_large',
    },
  ];
}

/** The IDAT of the base digit and nothing else (for building variations around its header). */
function pngTail(): Uint8Array[] {
  return [chunk('IDAT', zlib(scanlines(28, 28, 8, 0, digit(28, 28, 8, 0))))];
}

/** Every case: the PNG ones, then the body ones. */
export function hostileCorpus(): HostileCase[] {
  return [...hostilePngCases(), ...hostileBodyCases()];
}
