import { convertIndexedToRgb, decode as fastPngDecode, encode as fastPngEncode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import {
  decodePng,
  decodePngInSteps,
  DEFAULT_PNG_LIMITS,
  inflateExact,
  INFLATE_STEP,
  PngError,
  readPngLayout,
  BYTES_PER_TURN,
  inflateStep,
  MIN_INFLATE_STEP,
  INFLATE_SLACK,
} from '../../src/data/png.ts';
import type { RasterImage } from '../../src/data/preprocess.ts';
import { hostilePngCases } from '../../scripts/lib/hostile-corpus.ts';
import { ADAM7 } from '../../src/data/png-chunks.ts';
import { chunk, concat, ihdr, png, scanlines, zlib, zlibBomb } from '../../scripts/lib/png-build.ts';

const corpus = hostilePngCases();

async function outcomeOf(bytes: Uint8Array): Promise<string> {
  try {
    await decodePng(bytes);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(PngError);
    return (error as PngError).code;
  }
}

/** The worker's decode before the bounded decoder: fast-png on the whole file, palette and packed grey expanded. */
function decodeAsBefore(bytes: Uint8Array): RasterImage {
  const png = fastPngDecode(bytes);
  const { width, height, depth } = png;
  if (png.palette) {
    const channels = png.palette[0].length as 3 | 4;
    return { width, height, channels, data: convertIndexedToRgb(png), maxValue: 255 };
  }
  if (depth < 8) {
    const data = new Uint8Array(width * height);
    const rowBytes = Math.ceil((width * depth) / 8);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = x * depth;
        const byte = (png.data as Uint8Array)[y * rowBytes + (bit >> 3)];
        data[y * width + x] = (byte >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
      }
    }
    return { width, height, channels: 1, data, maxValue: (1 << depth) - 1 };
  }
  const channels = png.channels as 1 | 2 | 3 | 4;
  return { width, height, channels, data: png.data, maxValue: depth === 16 ? 65535 : 255 };
}

/** Deterministic samples 0..max, varied enough that every filter and channel matters. */
function samples(count: number, max: number, seed = 7): number[] {
  let s = seed;
  return Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 8) % (max + 1);
  });
}

describe('decodePng over the hostile corpus', () => {
  it.each(corpus.map((c) => [c.name, c] as const))('should answer %s as the corpus says', async (_, c) => {
    expect(await outcomeOf(c.body)).toBe(c.decoder);
  });

  it('should cover every refusal code and bombs in every compressed chunk kind', () => {
    const codes = new Set(corpus.map((c) => c.decoder));
    for (const code of [
      'NOT_PNG',
      'TRUNCATED',
      'BAD_CRC',
      'BAD_CHUNK',
      'BAD_HEADER',
      'BAD_PALETTE',
    ] as const) {
      expect(codes).toContain(code);
    }
    for (const code of ['BAD_DATA', 'TOO_LARGE', 'UNSUPPORTED', 'accepted'] as const)
      expect(codes).toContain(code);
    for (const kind of ['iccp', 'ztxt', 'itxt', 'idat', 'fdat']) {
      expect(corpus.some((c) => c.name.includes('bomb') && c.name.includes(kind))).toBe(true);
    }
  });

  it('should keep peak resident memory within 64 MB of where it started over the whole corpus', async () => {
    // Peak RSS (maxRSS) after every case minus the RSS before any: an upper bound on what any one case added.
    const before = process.memoryUsage().rss;
    for (const c of corpus) await outcomeOf(c.body);
    const peakGrowth = process.resourceUsage().maxRSS * 1024 - before;
    console.log(
      `hostile corpus: peak RSS growth ${(peakGrowth / 2 ** 20).toFixed(1)} MiB over ${corpus.length} cases`,
    );
    expect(peakGrowth).toBeLessThan(64 * 2 ** 20);
  });
});

describe('decodePngInSteps', () => {
  const settle = (p: Promise<unknown>) =>
    p.then(
      (v) => ({ v }),
      (e: unknown) => ({ e }),
    );

  it('should answer every corpus case as decodePng does', async () => {
    for (const c of corpus) {
      const sync = await settle(Promise.resolve().then(() => decodePng(c.body)));
      const stepped = await settle(decodePngInSteps(c.body, async () => {}));
      expect(stepped, c.name).toEqual(sync);
    }
  });

  it('should pause after the walk, every few inflate steps and after inflating', async () => {
    const noise = corpus.find((c) => c.name.startsWith('max-gray8-') && c.decoder === 'accepted')!;
    let pauses = 0;
    await decodePngInSteps(noise.body, async () => void pauses++);
    const bytes = readPngLayout(noise.body).idat[0].length;
    // A pause once at least BYTES_PER_TURN were fed since the last one (a step may pass it by < INFLATE_STEP).
    expect(pauses).toBeGreaterThanOrEqual(2 + Math.floor(bytes / (BYTES_PER_TURN + INFLATE_STEP)));
    expect(pauses).toBeLessThanOrEqual(2 + Math.floor(bytes / BYTES_PER_TURN));
    expect(pauses).toBeGreaterThan(5);
  });

  it('should feed steps that cannot inflate much past what is still expected', () => {
    for (const remaining of [0, 812, 10_000, 262_144, 1 << 19, 1 << 24]) {
      const step = inflateStep(remaining);
      expect(step).toBeGreaterThanOrEqual(MIN_INFLATE_STEP);
      expect(step).toBeLessThanOrEqual(INFLATE_STEP);
      // Deflate's ratio is at most ~1032:1: the step's output stays within the slack (or the smallest step's).
      expect(step * 1032).toBeLessThanOrEqual(Math.max(remaining + INFLATE_SLACK, MIN_INFLATE_STEP * 1032));
    }
    expect(inflateStep(812)).toBe(MIN_INFLATE_STEP);
    expect(inflateStep(1 << 24)).toBe(INFLATE_STEP);
  });
});

describe('decodePng on valid images', () => {
  const kinds = [
    { name: 'grey 8-bit', channels: 1, depth: 8 },
    { name: 'grey 16-bit', channels: 1, depth: 16 },
    { name: 'grey+alpha 8-bit', channels: 2, depth: 8 },
    { name: 'grey+alpha 16-bit', channels: 2, depth: 16 },
    { name: 'RGB 8-bit', channels: 3, depth: 8 },
    { name: 'RGB 16-bit', channels: 3, depth: 16 },
    { name: 'RGBA 8-bit', channels: 4, depth: 8 },
    { name: 'RGBA 16-bit', channels: 4, depth: 16 },
  ] as const;

  it.each(kinds)(
    'should decode $name to its samples, as the decoder before did',
    async ({ channels, depth }) => {
      const width = 37;
      const height = 23;
      const source = samples(width * height * channels, 2 ** depth - 1);
      const data = depth === 16 ? Uint16Array.from(source) : Uint8Array.from(source);
      const bytes = fastPngEncode({ width, height, channels, depth, data });
      const image = await decodePng(bytes);
      expect(image).toMatchObject({ width, height, channels, maxValue: 2 ** depth - 1 });
      expect(Array.from(image.data)).toEqual(source);
      expect(Array.from(image.data)).toEqual(Array.from(decodeAsBefore(bytes).data));
    },
  );

  it.each([1, 2, 4, 8])('should decode %i-bit grey under every filter to its samples', async (depth) => {
    for (let filter = 0; filter <= 4; filter++) {
      const source = samples(19 * 11, 2 ** depth - 1, filter + depth);
      const bytes = png([
        ihdr(19, 11, depth, 0),
        chunk('IDAT', zlib(scanlines(19, 11, depth, 0, source, filter))),
      ]);
      const image = await decodePng(bytes);
      expect(image).toMatchObject({ channels: 1, maxValue: 2 ** depth - 1 });
      expect(Array.from(image.data)).toEqual(source);
      expect(Array.from(image.data)).toEqual(Array.from(decodeAsBefore(bytes).data));
    }
  });

  it.each([1, 2, 4, 8])('should expand a %i-bit palette (with and without tRNS) as before', async (depth) => {
    const entries = Math.min(2 ** depth, 5);
    const plte = Uint8Array.from(samples(entries * 3, 255, depth));
    const indices = samples(13 * 9, entries - 1, depth + 1);
    const lines = chunk('IDAT', zlib(scanlines(13, 9, depth, 3, indices, 4)));
    for (const trns of [undefined, Uint8Array.of(0, 128).subarray(0, Math.min(2, entries))]) {
      const bytes = png([
        ihdr(13, 9, depth, 3),
        chunk('PLTE', plte),
        ...(trns ? [chunk('tRNS', trns)] : []),
        lines,
      ]);
      const image = await decodePng(bytes);
      const ch = trns ? 4 : 3;
      const expected = indices.flatMap((i) => [
        ...plte.subarray(i * 3, i * 3 + 3),
        ...(trns ? [i < trns.length ? trns[i] : 255] : []),
      ]);
      expect(image).toMatchObject({ width: 13, height: 9, channels: ch, maxValue: 255 });
      expect(Array.from(image.data)).toEqual(expected);
      expect(Array.from(image.data)).toEqual(Array.from(decodeAsBefore(bytes).data));
    }
  });

  it.each([
    { name: 'grey 8-bit', colorType: 0, channels: 1, depth: 8 },
    { name: 'grey+alpha 16-bit', colorType: 4, channels: 2, depth: 16 },
    { name: 'RGB 8-bit', colorType: 2, channels: 3, depth: 8 },
    { name: 'RGBA 16-bit', colorType: 6, channels: 4, depth: 16 },
  ])('should put an interlaced $name image together from its passes under every filter', async (kind) => {
    const { colorType, channels, depth } = kind;
    // 1×1 and 3×2 leave passes empty; 37×23 fills every pass with ragged ends.
    for (const [width, height] of [
      [1, 1],
      [3, 2],
      [37, 23],
    ]) {
      for (let filter = 0; filter <= 4; filter++) {
        const source = samples(width * height * channels, 2 ** depth - 1, width + filter);
        const passes = ADAM7.flatMap(([x0, y0, dx, dy]) => {
          const xs = Array.from({ length: Math.ceil(Math.max(0, width - x0) / dx) }, (_, i) => x0 + i * dx);
          const ys = Array.from({ length: Math.ceil(Math.max(0, height - y0) / dy) }, (_, i) => y0 + i * dy);
          if (!xs.length || !ys.length) return [];
          const pass = ys.flatMap((y) =>
            xs.flatMap((x) => source.slice((y * width + x) * channels, (y * width + x + 1) * channels)),
          );
          return [scanlines(xs.length, ys.length, depth, colorType, pass, filter)];
        });
        const bytes = png([ihdr(width, height, depth, colorType, 1), chunk('IDAT', zlib(concat(...passes)))]);
        const image = await decodePng(bytes);
        expect(image).toMatchObject({ width, height, channels, maxValue: 2 ** depth - 1 });
        expect(Array.from(image.data)).toEqual(source);
      }
    }
  });

  it('should decode an interlaced image to the same pixels as its plain twin', async () => {
    const plain = corpus.find((c) => c.name === 'valid-gray8-28x28')!;
    const interlaced = corpus.find((c) => c.name === 'interlaced-rgb8')!;
    const a = await decodePng(interlaced.body);
    expect(a).toMatchObject({ width: 28, height: 28, channels: 3 });
    // The corpus draws the same ring in both: grey level = each RGB sample.
    const grey = (await decodePng(plain.body)).data;
    for (let i = 0; i < 28 * 28; i++) expect(a.data[i * 3]).toBe(grey[i]);
  });
});

describe('readPngLayout', () => {
  it('should list what it skipped without reading and keep only IDAT for inflating', () => {
    const bomb = corpus.find((c) => c.name === 'bomb-every-ancillary-600MB')!;
    const layout = readPngLayout(bomb.body);
    expect(layout.skipped).toEqual(['iCCP', 'zTXt', 'iTXt']);
    expect(layout.idat).toHaveLength(1);
    expect(layout.header).toMatchObject({ width: 28, height: 28, inflatedBytes: 28 * 29 });
  });

  it('should refuse past each limit it is given, and say which', () => {
    const bytes = corpus.find((c) => c.name === 'valid-gray8-28x28')!.body;
    for (const limits of [
      { maxSide: 27 },
      { maxPixels: 28 * 28 - 1 },
      { maxInflatedBytes: 28 * 29 - 1 },
      { maxChunks: 2 },
    ]) {
      const error = (() => {
        try {
          readPngLayout(bytes, { ...DEFAULT_PNG_LIMITS, ...limits });
        } catch (e) {
          return e as PngError;
        }
      })();
      expect(error?.code).toBe('TOO_LARGE');
    }
    expect(readPngLayout(bytes, { ...DEFAULT_PNG_LIMITS, maxSide: 28, maxChunks: 3 }).header.width).toBe(28);
  });
});

describe('inflateExact', () => {
  it('should stop a 1 GB stream within one step past the expected size', () => {
    const before = process.memoryUsage().arrayBuffers;
    expect(() => inflateExact([zlibBomb(1e9)], 1 << 20)).toThrow(
      expect.objectContaining({ code: 'BAD_DATA' }),
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });

  it('should refuse bytes after the stream at its end, without pushing them through the inflater', () => {
    const data = Uint8Array.from(samples(5000, 255));
    const z = zlib(data);
    const cost = (junk: number) => {
      const parts = [concat(z, new Uint8Array(junk))];
      const start = process.cpuUsage();
      expect(() => inflateExact(parts, 5000)).toThrow(expect.objectContaining({ code: 'BAD_DATA' }));
      const { user, system } = process.cpuUsage(start);
      return (user + system) / 1000;
    };
    cost(50); // warm up
    // Fed through fflate after its end, 1.5 MB cost ~150-240 ms of CPU here (it copies what is pending per push).
    expect(cost(1_500_000)).toBeLessThan(30);
  });

  it('should accept a stream split at any byte across parts', async () => {
    const data = Uint8Array.from(samples(5000, 255));
    const z = zlib(data);
    const parts = [
      z.subarray(0, 1),
      z.subarray(1, 2),
      z.subarray(2, 700),
      new Uint8Array(0),
      z.subarray(700),
    ];
    expect(Array.from(inflateExact(parts, 5000))).toEqual(Array.from(data));
  });
});
