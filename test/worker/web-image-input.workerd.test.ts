import { env } from 'cloudflare:workers';
import { encode as encodePng } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { readPngLayout } from '../../src/data/png.ts';
import { preprocess, resizeOnly, type RasterImage } from '../../src/data/preprocess.ts';
import { crc32 } from '../../src/format/crc32.ts';
import app from '../../src/worker/app.ts';
import { MAX_IMAGE_BODY } from '../../src/worker/body.ts';
import { ApiError } from '../../src/worker/errors.ts';
import { decodeImage, preprocessBatch } from '../../src/worker/predict.ts';
import { seed, testEnv, type ErrorJson } from './helpers.ts';

/** A 60×50 RGBA canvas: a black "7" (bar and diagonal) on white, the way the page draws. */
function sevenRgba(width = 60, height = 50): Uint8Array {
  const data = new Uint8Array(width * height * 4).fill(255);
  const ink = (x: number, y: number) => data.set([0, 0, 0, 255], (y * width + x) * 4);
  for (let x = 15; x < 45; x++) for (let y = 8; y < 12; y++) ink(x, y);
  for (let y = 12; y < 44; y++) {
    const x = Math.round(44 - (y - 12) * 0.6);
    for (let dx = -2; dx <= 1; dx++) ink(x + dx, y);
  }
  return data;
}

const SEVEN: RasterImage = { width: 60, height: 50, channels: 4, data: sevenRgba(), maxValue: 255 };
const sevenPng = () => encodePng({ width: 60, height: 50, data: sevenRgba(), channels: 4, depth: 8 });

async function codeOf(run: () => unknown): Promise<{ status: number; code: string }> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return { status: (error as ApiError).status, code: (error as ApiError).code };
  }
  throw new Error('expected an ApiError');
}

/** A PNG with the IHDR width and height overwritten (and its CRC fixed, so the size is what is refused). */
function withSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const copy = png.slice();
  const view = new DataView(copy.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(copy.subarray(12, 29)));
  return copy;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('readPngLayout and decodeImage', () => {
  it('should read size, depth and the inflated size of plain and interlaced images', () => {
    const plain = readPngLayout(sevenPng()).header;
    expect(plain).toMatchObject({ width: 60, height: 50, depth: 8, colorType: 6, interlaced: false });
    expect(plain.inflatedBytes).toBe(50 * (1 + 60 * 4));
    const adam7 = readPngLayout(
      encodePng({ width: 60, height: 50, data: sevenRgba(), channels: 4, depth: 8 }, { interlace: 'Adam7' }),
    ).header;
    expect(adam7.interlaced).toBe(true);
    // Seven passes each add a filter byte per row: more than the plain size, less than 7 extra bytes per row.
    expect(adam7.inflatedBytes).toBeGreaterThan(plain.inflatedBytes);
    expect(adam7.inflatedBytes).toBeLessThan(plain.inflatedBytes + 7 * 50);
  });

  it('should refuse what is not a PNG with 415', async () => {
    const jpeg = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46);
    expect(await codeOf(() => decodeImage(jpeg))).toEqual({ status: 415, code: 'unsupported_image' });
    expect(await codeOf(() => decodeImage(new Uint8Array(0)))).toEqual({
      status: 415,
      code: 'unsupported_image',
    });
  });

  it('should refuse a malformed header with 400', async () => {
    const png = sevenPng();
    const cases: [number, number][] = [
      [11, 14], // IHDR length
      [25, 5], // colour type
      [24, 3], // depth 3
      [26, 1], // compression
      [28, 2], // interlace
    ];
    for (const [offset, value] of cases) {
      const bad = png.slice();
      bad[offset] = value;
      expect(await codeOf(() => decodeImage(bad)), `byte ${offset}`).toEqual({
        status: 400,
        code: 'bad_image',
      });
    }
    expect(await codeOf(() => decodeImage(withSize(png, 0, 50)))).toEqual({
      status: 400,
      code: 'bad_image',
    });
    expect(await codeOf(() => decodeImage(png.subarray(0, 20)))).toEqual({
      status: 400,
      code: 'bad_image',
    });
  });

  it('should refuse huge dimensions with 413 before decoding', async () => {
    const png = sevenPng();
    expect(await codeOf(() => decodeImage(withSize(png, 5000, 10)))).toEqual({
      status: 413,
      code: 'image_too_large',
    });
    expect(await codeOf(() => decodeImage(withSize(png, 2000, 2000)))).toEqual({
      status: 413,
      code: 'image_too_large',
    });
    expect(await codeOf(() => decodeImage(withSize(png, 0x7fffffff, 0x7fffffff)))).toEqual({
      status: 413,
      code: 'image_too_large',
    });
    // Past 2^31 - 1 is not a PNG size at all.
    expect(await codeOf(() => decodeImage(withSize(png, 0xffffffff, 0xffffffff)))).toEqual({
      status: 400,
      code: 'bad_image',
    });
  });
});

describe('decodeImage', () => {
  it('should decode RGBA, grey, 16-bit, 1-bit, palette and interlaced PNGs to the same digit', async () => {
    const reference = preprocess(SEVEN);
    const grey8 = new Uint8Array(60 * 50);
    for (let i = 0; i < grey8.length; i++) grey8[i] = sevenRgba()[i * 4];
    const packed = new Uint8Array(Math.ceil(60 / 8) * 50);
    for (let y = 0; y < 50; y++) {
      for (let x = 0; x < 60; x++) if (grey8[y * 60 + x]) packed[y * 8 + (x >> 3)] |= 0x80 >> (x & 7);
    }
    const pngs: Record<string, Uint8Array> = {
      rgba: sevenPng(),
      grey: encodePng({ width: 60, height: 50, data: grey8, channels: 1, depth: 8 }),
      grey16: encodePng({
        width: 60,
        height: 50,
        data: Uint16Array.from(grey8, (v) => v * 257),
        channels: 1,
        depth: 16,
      }),
      bits: encodePng({ width: 60, height: 50, data: packed, channels: 1, depth: 1 }),
      palette: encodePng({
        width: 60,
        height: 50,
        data: Uint8Array.from(grey8, (v) => (v ? 1 : 0)),
        channels: 1,
        depth: 8,
        palette: [
          [0, 0, 0],
          [255, 255, 255],
        ],
      }),
      adam7: encodePng(
        { width: 60, height: 50, data: sevenRgba(), channels: 4, depth: 8 },
        { interlace: 'Adam7' },
      ),
    };
    for (const [name, png] of Object.entries(pngs)) {
      const image = await decodeImage(png);
      expect([image.width, image.height], name).toEqual([60, 50]);
      expect(maxDiff(preprocess(image), reference), name).toBeLessThan(1e-6);
    }
  });

  it('should refuse image data that inflates past its declared size (a decompression bomb)', async () => {
    const big = encodePng({
      width: 1000,
      height: 1000,
      data: new Uint8Array(1000 * 1000),
      channels: 1,
      depth: 8,
    });
    expect(big.length).toBeLessThan(10_000);
    expect(await codeOf(() => decodeImage(withSize(big, 100, 100)))).toEqual({
      status: 400,
      code: 'bad_image',
    });
  });

  it('should refuse truncated and corrupt PNGs with 400', async () => {
    const png = sevenPng();
    expect(await codeOf(() => decodeImage(png.subarray(0, png.length - 20)))).toEqual({
      status: 400,
      code: 'bad_image',
    });
    const corrupt = png.slice();
    for (let i = 45; i < 60; i++) corrupt[i] ^= 0x5a; // inside the IDAT payload
    expect(await codeOf(() => decodeImage(corrupt))).toEqual({ status: 400, code: 'bad_image' });
    const noData = Uint8Array.of(
      ...png.subarray(0, 33),
      0,
      0,
      0,
      0,
      0x49,
      0x45,
      0x4e,
      0x44,
      0xae,
      0x42,
      0x60,
      0x82,
    );
    expect(await codeOf(() => decodeImage(noData))).toEqual({ status: 400, code: 'bad_image' });
  });
});

describe('preprocessBatch', () => {
  it('should preprocess each image of a batch in place', () => {
    const x = new Float32Array(2 * 784);
    const small = preprocess(SEVEN);
    // Image 0: the seven shrunk into the top-left corner; image 1: a bar.
    for (let y = 0; y < 14; y++)
      for (let xx = 0; xx < 14; xx++) x[y * 28 + xx] = small[(2 * y + 1) * 28 + 2 * xx + 1];
    for (let y = 5; y < 20; y++) x[784 + y * 28 + 3] = 1;
    const out = preprocessBatch(x, 2);
    expect(out).toBe(x);
    expect(
      maxDiff(
        x.subarray(784),
        preprocess({ width: 28, height: 28, channels: 1, data: x.subarray(784), maxValue: 1 }),
      ),
    ).toBeLessThan(1e-6);
    let centreInk = 0;
    for (let y = 10; y < 18; y++) for (let xx = 10; xx < 18; xx++) centreInk += x[784 + y * 28 + xx];
    expect(centreInk).toBeGreaterThan(3);
    expect(maxDiff(x.subarray(0, 784), new Float32Array(784))).toBeGreaterThan(0.5);
  });

  it('should answer 422 naming the first empty image', async () => {
    const x = new Float32Array(3 * 784);
    x[100] = 1;
    x[101] = 1;
    try {
      preprocessBatch(x, 3);
      throw new Error('expected an ApiError');
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(422);
      expect((err as ApiError).details).toEqual({ index: 1 });
    }
  });
});

describe('POST /predict with an image', () => {
  function form(png: Uint8Array | string, fields: Record<string, string> = {}, name = 'image'): FormData {
    const body = new FormData();
    body.append('note', 'hello');
    body.append(name, new File([png], 'digit.png', { type: 'image/png' }));
    for (const [k, v] of Object.entries(fields)) body.append(k, v);
    return body;
  }

  it('should predict a raw image/png body through the preprocessing', async () => {
    const e = testEnv(env);
    const { net, version } = await seed(e);
    const res = await app.request(
      '/predict?preview=1',
      { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: sevenPng() },
      e,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('X-Model-Version')).toBe(version);
    const body = (await res.json()) as {
      digit: number;
      probabilities: number[];
      input: number[];
      preprocessed: boolean;
      modelVersion: string;
    };
    const x = preprocess(SEVEN);
    const expected = net.predict(x, 1);
    expect(body.modelVersion).toBe(version);
    expect(body.preprocessed).toBe(true);
    expect(maxDiff(body.probabilities, expected)).toBeLessThan(1e-5);
    expect(body.digit).toBe(expected.indexOf(Math.max(...expected)));
    expect(body.input).toEqual(Array.from(x, (v) => Math.round(v * 255)));
  });

  it('should read the file field of a multipart form and honour preprocess=false', async () => {
    const e = testEnv(env);
    const { net } = await seed(e);
    const on = await app.request('/predict', { method: 'POST', body: form(sevenPng()) }, e);
    const off = await app.request(
      '/predict',
      { method: 'POST', body: form(sevenPng(), { preprocess: 'false' }) },
      e,
    );
    const other = await app.request('/predict', { method: 'POST', body: form(sevenPng(), {}, 'upload') }, e);
    const [a, b, c] = (await Promise.all([on.json(), off.json(), other.json()])) as {
      probabilities: number[];
      preprocessed: boolean;
      input?: number[];
    }[];
    expect(a.preprocessed).toBe(true);
    expect(a.input).toBeUndefined();
    expect(maxDiff(a.probabilities, net.predict(preprocess(SEVEN), 1))).toBeLessThan(1e-5);
    expect(b.preprocessed).toBe(false);
    expect(maxDiff(b.probabilities, net.predict(resizeOnly(SEVEN), 1))).toBeLessThan(1e-5);
    expect(c.probabilities).toEqual(a.probabilities);
  });

  it('should answer an empty canvas with the verdict blank', async () => {
    const e = testEnv(env);
    await seed(e);
    const blank = encodePng({
      width: 40,
      height: 40,
      data: new Uint8Array(40 * 40 * 4).fill(255),
      channels: 4,
      depth: 8,
    });
    const res = await app.request(
      '/predict',
      { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blank },
      e,
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { verdict: string }).verdict).toBe('blank');
  });

  it('should answer bad uploads with clear 4xx errors', async () => {
    const e = testEnv(env);
    await seed(e);
    const send = async (init: RequestInit) => {
      const res = await app.request('/predict', { method: 'POST', ...init }, e);
      return { status: res.status, code: ((await res.json()) as ErrorJson).error.code };
    };
    expect(await send({ body: form('GIF89a not a png') })).toEqual({
      status: 415,
      code: 'unsupported_image',
    });
    const noFile = new FormData();
    noFile.append('image', 'just text');
    expect(await send({ body: noFile })).toEqual({ status: 400, code: 'missing_image' });
    expect(
      await send({
        headers: { 'Content-Type': 'multipart/form-data; boundary=x' },
        body: 'not multipart at all',
      }),
    ).toEqual({ status: 400, code: 'bad_form' });
    expect(
      await send({ headers: { 'Content-Type': 'image/png' }, body: new Uint8Array(MAX_IMAGE_BODY + 1) }),
    ).toEqual({ status: 413, code: 'body_too_large' });
    expect(
      await send({ headers: { 'Content-Type': 'image/png' }, body: sevenPng().subarray(0, 40) }),
    ).toEqual({
      status: 400,
      code: 'bad_image',
    });
  });

  it('should refuse a setting given twice, in the query string, the form or both, with 400 repeated_field', async () => {
    const e = testEnv(env);
    await seed(e);
    const send = async (query: string, init: RequestInit) => {
      const res = await app.request(`/predict${query}`, { method: 'POST', ...init }, e);
      const json = (await res.json()) as ErrorJson & { digit?: number };
      return {
        status: res.status,
        code: json.error?.code,
        field: (json.error?.details as { field?: string })?.field,
      };
    };
    const png = { headers: { 'Content-Type': 'image/png' }, body: sevenPng() };
    const twice = form(sevenPng(), { minConfidence: '0.5' });
    twice.append('minConfidence', '0');
    const refused = { status: 400, code: 'repeated_field', field: 'minConfidence' };
    expect(await send('?minConfidence=0.5&minConfidence=0', png)).toEqual(refused);
    expect(await send('', { body: twice })).toEqual(refused);
    expect(await send('?minConfidence=0.5', { body: form(sevenPng(), { minConfidence: '0' }) })).toEqual(
      refused,
    );
    expect(await send('?preview=1&preview=1', png)).toMatchObject({ status: 400, field: 'preview' });
    // Once each, wherever, is as before.
    expect((await send('?minConfidence=0.5', { body: form(sevenPng(), { preview: '1' }) })).status).toBe(200);
  });

  it('should send JSON to the JSON validator and refuse other media types with 415', async () => {
    const e = testEnv(env);
    await seed(e);
    const send = async (type: string | null, body: string) => {
      const res = await app.request(
        '/predict',
        { method: 'POST', headers: type ? { 'Content-Type': type } : {}, body },
        e,
      );
      return { status: res.status, code: ((await res.json()) as ErrorJson).error.code };
    };
    expect(await send('application/json', '{}')).toEqual({ status: 400, code: 'validation_error' });
    expect(await send('text/plain', '{}')).toEqual({ status: 415, code: 'unsupported_media_type' });
    expect(await send('image/jpeg', 'x')).toEqual({ status: 415, code: 'unsupported_media_type' });
    expect(await send(null, '')).toEqual({ status: 415, code: 'unsupported_media_type' });
  });
});
