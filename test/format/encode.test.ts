import { describe, expect, it } from 'vitest';
import {
  decodeModel,
  describeModel,
  encodeModel,
  floatToHalfBits,
  formatVersion,
  halfBitsToFloat,
  ModelFormatError,
  paramCount,
  type ModelData,
  type ModelFormatErrorCode,
  type WeightEncoding,
} from '../../src/format/index.ts';
import { makeModel, METADATA } from './fixtures.ts';

const ENCODINGS: WeightEncoding[] = ['f32', 'f16', 'int8'];
const SHAPES = [
  [1, 1],
  [3, 5, 2],
  [7, 13, 1, 9],
  [17, 3],
  [2, 3, 4, 5, 6, 7],
  [784, 1024, 512, 10],
];

/** The layer bytes of one encoding, as `models/README.md` lays them out (each section padded to 4). */
function layerBytes(sizes: number[], encoding: WeightEncoding): number {
  const pad = (n: number) => Math.ceil(n / 4) * 4;
  let total = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [n, out] = [sizes[l] * sizes[l + 1], sizes[l + 1]];
    total += { f32: 4 * n, f16: pad(2 * n), int8: pad(n) + 4 * out }[encoding] + 4 * out;
  }
  return total;
}

function expectFormatError(run: () => unknown, code: ModelFormatErrorCode, offset?: number) {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).code, (err as Error).message).toBe(code);
    if (offset !== undefined) expect((err as ModelFormatError).offset, (err as Error).message).toBe(offset);
    return err as ModelFormatError;
  }
  return expect.fail(`expected ModelFormatError ${code}`);
}

describe('paramCount', () => {
  it('should count weights and biases', () => {
    expect(paramCount([784, 1024, 512, 10])).toBe(784 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 10 + 10);
    expect(paramCount([3, 5, 2])).toBe(3 * 5 + 5 + 5 * 2 + 2);
  });
});

describe('encodeModel and decodeModel', () => {
  describe.each(ENCODINGS)('%s', (encoding) => {
    it.each(SHAPES.map((sizes) => [sizes.join('-'), sizes]))(
      'should round-trip %s byte-identically',
      (_, sizes) => {
        const model = makeModel(sizes as number[], encoding, 42);
        const blob = encodeModel(model);
        const metadataBytes = new TextEncoder().encode(JSON.stringify(model.metadata)).length;
        expect(blob.length).toBe(
          24 + 4 * model.sizes.length + Math.ceil(metadataBytes / 4) * 4 + layerBytes(model.sizes, encoding),
        );

        const decoded = decodeModel(blob);
        expect(decoded.formatVersion).toBe(formatVersion);
        expect(decoded.sizes).toEqual(model.sizes);
        expect(decoded.alpha).toBe(Math.fround(model.alpha));
        expect(decoded.encoding).toBe(encoding);
        expect(decoded.metadata).toEqual(model.metadata);
        expect(decoded.params.length).toBe(model.params.length);
        expect(Buffer.from(encodeModel(decoded)).equals(Buffer.from(blob))).toBe(true);
        expectValuesKept(model, decoded);
      },
    );
  });

  it('should write the default shape in the sizes the README states', () => {
    expect(layerBytes([784, 1024, 512, 10], 'f32')).toBe(5_335_080);
    expect(layerBytes([784, 1024, 512, 10], 'f16')).toBe(2_670_632);
    expect(layerBytes([784, 1024, 512, 10], 'int8')).toBe(1_344_592);
  });

  it('should keep unknown metadata keys, unicode, nulls and nesting', () => {
    const metadata = {
      ...METADATA,
      testAccuracy: 0.981,
      validationAccuracy: 1,
      parentVersion: null,
      training: { epochs: 4, flags: ['--momentum', '0.9'], seconds: 11.5 },
      note: 'żółw 🐢 "quoted" \\ \u2028',
      nested: { deep: [1, { x: null }] },
    };
    const blob = encodeModel({ ...makeModel([3, 5, 2], 'f32'), metadata });
    expect(decodeModel(blob).metadata).toEqual(metadata);
  });

  it('should quantize params for int8 when no quantized arrays are given, and use them when they are', () => {
    const model = makeModel([3, 5, 2], 'int8');
    const decoded = decodeModel(encodeModel(model));
    expect(decoded.quantized).toHaveLength(2);
    // Changing params' weights no longer matters: the quantized arrays are written as they are.
    const changed = { ...decoded, params: decoded.params.map((v, i) => (i < 15 ? 0 : v)) };
    expect(decodeModel(encodeModel(changed)).params.subarray(0, 15)).toEqual(decoded.params.subarray(0, 15));
  });

  it('should not depend on the byte offset of the input', () => {
    const blob = encodeModel(makeModel([3, 5, 2], 'f16'));
    const shifted = new Uint8Array(blob.length + 3);
    shifted.set(blob, 3);
    expect(decodeModel(shifted.subarray(3)).params).toEqual(decodeModel(blob).params);
  });

  it('should keep -0 and subnormal float32 weights exactly', () => {
    const model = makeModel([2, 2], 'f32');
    model.params.set([-0, 1e-45, -1.1754942e-38, 3.4028235e38]);
    const params = decodeModel(encodeModel(model)).params;
    expect(Object.is(params[0], -0)).toBe(true);
    expect(Array.from(params.subarray(1, 4))).toEqual(Array.from(model.params.subarray(1, 4)));
  });
});

/** f32 exact; f16 the nearest binary16; int8 within half a step of its row's scale; biases always exact. */
function expectValuesKept(model: ModelData, decoded: ModelData) {
  const { sizes, params } = model;
  let at = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [inSize, outSize] = [sizes[l], sizes[l + 1]];
    for (let r = 0; r < outSize; r++) {
      for (let c = 0; c < inSize; c++) {
        const [w, got] = [params[at + r * inSize + c], decoded.params[at + r * inSize + c]];
        if (model.encoding === 'f32' && got !== w) expect.fail(`layer ${l} [${r},${c}]: ${got} ≠ ${w}`);
        if (model.encoding === 'f16' && got !== halfBitsToFloat(floatToHalfBits(w)))
          expect.fail(`f16 ${w} → ${got}`);
        if (model.encoding === 'int8') {
          // Dequantized in float32; the bound holds for the exact product q·scale.
          const [q, scale] = [decoded.quantized![l].q[r * inSize + c], decoded.quantized![l].scale[r]];
          if (got !== Math.fround(q * scale) || !(Math.abs(q * scale - w) <= (scale / 2) * (1 + 1e-6))) {
            expect.fail(`int8 ${w} → ${q}·${scale} = ${got}`);
          }
        }
      }
    }
    at += outSize * inSize;
    expect(decoded.params.subarray(at, at + outSize)).toEqual(params.subarray(at, at + outSize));
    at += outSize;
  }
}

describe('encodeModel', () => {
  const base = () => makeModel([3, 5, 2], 'f32');
  it.each<[string, () => ModelData, ModelFormatErrorCode]>([
    ['an unknown encoding', () => ({ ...base(), encoding: 'f64' as WeightEncoding }), 'BAD_ENCODING'],
    ['a single size', () => ({ ...base(), sizes: [784] }), 'BAD_SIZES'],
    ['a zero size', () => ({ ...base(), sizes: [3, 0, 2] }), 'BAD_SIZES'],
    ['a fractional size', () => ({ ...base(), sizes: [3, 4.5, 2] }), 'BAD_SIZES'],
    ['too many parameters', () => ({ ...base(), sizes: [65536, 65536, 65536] }), 'TOO_LARGE'],
    ['params of the wrong length', () => ({ ...base(), params: new Float32Array(26) }), 'BAD_PARAMS'],
    [
      'metadata without a dataset',
      () => ({ ...base(), metadata: { createdAt: METADATA.createdAt } as never }),
      'BAD_METADATA',
    ],
    [
      'metadata with a bad date',
      () => ({ ...base(), metadata: { ...METADATA, createdAt: 'yesterday' } }),
      'BAD_METADATA',
    ],
    [
      'an accuracy in percent',
      () => ({ ...base(), metadata: { ...METADATA, testAccuracy: 98.1 } }),
      'BAD_METADATA',
    ],
    ['metadata that is not JSON', () => ({ ...base(), metadata: { ...METADATA, n: 10n } }), 'BAD_METADATA'],
    [
      'quantized arrays of the wrong shape',
      () => ({ ...makeModel([3, 5, 2], 'int8'), quantized: [] }),
      'BAD_PARAMS',
    ],
  ])('should refuse %s before writing (offset -1)', (_, model, code) => {
    expectFormatError(() => encodeModel(model()), code, -1);
  });

  it.each<[string, (m: ModelData) => void, ModelFormatErrorCode]>([
    ['a NaN weight', (m) => (m.params[3] = NaN), 'NON_FINITE'],
    ['an infinite bias', (m) => (m.params[16] = -Infinity), 'NON_FINITE'],
    ['alpha NaN', (m) => (m.alpha = NaN), 'BAD_ACTIVATION'],
    ['alpha above 1', (m) => (m.alpha = 1.5), 'BAD_ACTIVATION'],
    ['negative alpha', (m) => (m.alpha = -0.01), 'BAD_ACTIVATION'],
  ])('should refuse %s as the decoder would', (_, edit, code) => {
    for (const encoding of ENCODINGS) {
      const model = makeModel([3, 5, 2], encoding);
      edit(model);
      const err = expectFormatError(() => encodeModel(model), code);
      expect(err.message).toMatch(/at byte \d+/);
    }
  });

  it('should refuse an f16 weight beyond ±65504, naming it', () => {
    const model = makeModel([3, 5, 2], 'f16');
    model.params[4] = 70000;
    const err = expectFormatError(() => encodeModel(model), 'NON_FINITE', -1);
    expect(err.message).toBe('non-finite value: layer 0 weight[4] = 70000 overflows float16 (max ±65504)');
    model.params[4] = 65519; // rounds down to 65504
    expect(decodeModel(encodeModel(model)).params[4]).toBe(65504);
  });

  it('should refuse metadata over 1 MiB', () => {
    const model = { ...base(), metadata: { ...METADATA, note: 'x'.repeat(1 << 20) } };
    expectFormatError(() => encodeModel(model), 'TOO_LARGE', 16);
  });

  it('should refuse quantized int8 values of -128', () => {
    const model = decodeModel(encodeModel(makeModel([3, 5, 2], 'int8')));
    model.quantized![1].q[2] = -128;
    expectFormatError(() => encodeModel(model), 'BAD_QUANTIZED');
  });
});

describe('describeModel', () => {
  it('should summarize shape, activation, encoding, parameters, bytes and dataset', () => {
    const model = makeModel([784, 1024, 512, 10], 'int8');
    expect(describeModel(model)).toBe(
      `784-1024-512-10 LeakyReLU(0.01) int8, 1333770 params, ${encodeModel(model).length} bytes, mnist`,
    );
  });
});
