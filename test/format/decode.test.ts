/**
 * The decoder against a table of corrupt blobs, each with the error code and byte offset it must report.
 * Offsets are written out by hand from `models/README.md` for sizes 5,3,2 and a 58-byte metadata block, so that
 * these tests check the code against the spec rather than against its own layout arithmetic.
 */
import { describe, expect, it } from 'vitest';
import { decodeModel, ModelFormatError, type ModelFormatErrorCode } from '../../src/format/index.ts';
import { crc32 } from '../../src/format/crc32.ts';
import { encoded, METADATA, patched, withMetadata } from './fixtures.ts';

const SIZES = [5, 3, 2];
const f32 = encoded(SIZES, 'f32');
const f16 = encoded(SIZES, 'f16');
const int8 = encoded(SIZES, 'int8');

type Field = [name: string, offset: number, length: number];
const HEADER_FIELDS: Field[] = [
  ['magic', 0, 4],
  ['format version', 4, 2],
  ['weight encoding', 6, 1],
  ['activation kind', 7, 1],
  ['LeakyReLU alpha', 8, 4],
  ['size count', 12, 4],
  ['metadata length', 16, 4],
  ['sizes', 20, 12],
  ['metadata', 32, 58],
  ['metadata padding', 90, 2],
];
/** Every section after the metadata padding, for each encoding; the checksum ends the blob. */
const LAYER_FIELDS: Record<'f32' | 'f16' | 'int8', Field[]> = {
  f32: [
    ['layer 0 weight', 92, 60],
    ['layer 0 bias', 152, 12],
    ['layer 1 weight', 164, 24],
    ['layer 1 bias', 188, 8],
    ['checksum', 196, 4],
  ],
  f16: [
    ['layer 0 weight', 92, 30],
    ['layer 0 weight padding', 122, 2],
    ['layer 0 bias', 124, 12],
    ['layer 1 weight', 136, 12],
    ['layer 1 bias', 148, 8],
    ['checksum', 156, 4],
  ],
  int8: [
    ['layer 0 weight', 92, 15],
    ['layer 0 weight padding', 107, 1],
    ['layer 0 scale', 108, 12],
    ['layer 0 bias', 120, 12],
    ['layer 1 weight', 132, 6],
    ['layer 1 weight padding', 138, 2],
    ['layer 1 scale', 140, 8],
    ['layer 1 bias', 148, 8],
    ['checksum', 156, 4],
  ],
};
const BLOBS = { f32, f16, int8 };

function decodeError(bytes: Uint8Array): ModelFormatError {
  try {
    decodeModel(bytes);
  } catch (err) {
    if (err instanceof ModelFormatError) return err;
    throw err;
  }
  return expect.fail('decoded without an error');
}

const u8 = (...bytes: number[]) => Uint8Array.from(bytes);
const setU16 = (at: number, v: number) => (d: DataView) => d.setUint16(at, v, true);
const setU32 = (at: number, v: number) => (d: DataView) => d.setUint32(at, v, true);
const setF32 = (at: number, v: number) => (d: DataView) => d.setFloat32(at, v, true);
const setU8 = (at: number, v: number) => (_: DataView, b: Uint8Array) => (b[at] = v);
const flip =
  (at: number, bit = 0) =>
  (_: DataView, b: Uint8Array) =>
    (b[at] ^= 1 << bit);
const meta = (value: object) => JSON.stringify({ ...METADATA, ...value });

describe('decodeModel', () => {
  it('should read the fixtures at the lengths the spec gives', () => {
    expect([f32.length, f16.length, int8.length]).toEqual([200, 160, 160]);
    expect(new TextEncoder().encode(JSON.stringify(METADATA)).length).toBe(58);
    for (const blob of [f32, f16, int8]) expect(decodeModel(blob).metadata).toEqual(METADATA);
  });

  it('should accept alpha 0 (ReLU) and 1, the ends of its range', () => {
    expect(decodeModel(patched(f32, setF32(8, 0))).alpha).toBe(0);
    expect(decodeModel(patched(f32, setF32(8, 1))).alpha).toBe(1);
  });

  it('should return arrays that do not share memory with the blob', () => {
    const blob = int8.slice();
    const model = decodeModel(blob);
    const before = [model.params.slice(), model.quantized![0].q.slice(), model.quantized![0].scale.slice()];
    blob.fill(0);
    expect([model.params, model.quantized![0].q, model.quantized![0].scale]).toEqual(before);
  });

  it('should read int8 weights as views into an adopted blob, the same values, still checked', () => {
    const blob = int8.slice();
    const copied = decodeModel(blob);
    const adopted = decodeModel(blob, { adopt: true });
    expect(adopted.quantized).toEqual(copied.quantized);
    for (const layer of adopted.quantized!) expect(layer.q.buffer).toBe(blob.buffer);
    expect(adopted.params).toEqual(copied.params);
    // Adopting checks every byte as copying does.
    const bad = decodeError(patched(int8, flip(100, 3), false));
    expect(() => decodeModel(patched(int8, flip(100, 3), false), { adopt: true })).toThrow(bad.message);
  });

  describe.each(['f32', 'f16', 'int8'] as const)('a %s blob cut short', (encoding) => {
    const blob = BLOBS[encoding];
    const cuts = [...HEADER_FIELDS, ...LAYER_FIELDS[encoding]].flatMap(([name, offset, length]) => [
      { name, cut: offset, offset },
      ...(length > 1 ? [{ name, cut: offset + length - 1, offset }] : []),
    ]);
    it.each(cuts)(
      'should say TRUNCATED at the start of the $name when cut at byte $cut',
      ({ name, cut, offset }) => {
        const err = decodeError(blob.subarray(0, cut));
        expect([err.code, err.offset]).toEqual(['TRUNCATED', offset]);
        expect(err.message).toBe(
          `truncated at byte ${offset}: ${name} needs ${[...HEADER_FIELDS, ...LAYER_FIELDS[encoding]].find(([n]) => n === name)![2]} bytes, the blob ends at byte ${cut}`,
        );
      },
    );
  });

  it.each<[string, Uint8Array, ModelFormatErrorCode, number]>([
    // Magic and version come first, whatever follows.
    ['another format (PNG)', u8(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), 'BAD_MAGIC', 0],
    ['the magic in lowercase', patched(f32, setU8(0, 0x65), false), 'BAD_MAGIC', 0],
    ['a short prefix that is not the magic', u8(0x45, 0x00), 'BAD_MAGIC', 0],
    ['version 99', patched(f32, setU16(4, 99), false), 'UNSUPPORTED_VERSION', 4],
    [
      'version 99, truncated after it',
      patched(f32, setU16(4, 99), false).subarray(0, 6),
      'UNSUPPORTED_VERSION',
      4,
    ],
    ['version 0', patched(f32, setU16(4, 0), false), 'UNSUPPORTED_VERSION', 4],
    ['encoding 3', patched(f32, setU8(6, 3)), 'BAD_ENCODING', 6],
    ['encoding 255', patched(f32, setU8(6, 255)), 'BAD_ENCODING', 6],
    ['activation kind 0 (reserved)', patched(f32, setU8(7, 0)), 'BAD_ACTIVATION', 7],
    ['activation kind 2', patched(f32, setU8(7, 2)), 'BAD_ACTIVATION', 7],
    ['alpha NaN', patched(f32, setF32(8, NaN)), 'BAD_ACTIVATION', 8],
    ['alpha Infinity', patched(f32, setF32(8, Infinity)), 'BAD_ACTIVATION', 8],
    ['alpha -0.5', patched(f32, setF32(8, -0.5)), 'BAD_ACTIVATION', 8],
    ['alpha 1.5', patched(f32, setF32(8, 1.5)), 'BAD_ACTIVATION', 8],
    // Sizes: checked against the limits before anything is allocated.
    ['size count 0', patched(f32, setU32(12, 0)), 'BAD_SIZES', 12],
    ['size count 1', patched(f32, setU32(12, 1)), 'BAD_SIZES', 12],
    ['size count 17', patched(f32, setU32(12, 17)), 'BAD_SIZES', 12],
    ['size count 2^32-1', patched(f32, setU32(12, 0xffffffff)), 'BAD_SIZES', 12],
    ['a size of 0', patched(f32, setU32(24, 0)), 'BAD_SIZES', 24],
    ['a size of 65537', patched(f32, setU32(28, 65537)), 'BAD_SIZES', 28],
    ['a size of 2^32-1', patched(f32, setU32(20, 0xffffffff)), 'BAD_SIZES', 20],
    [
      'sizes 65536,65536,65536 in a 200-byte blob',
      patched(f32, (d) => [20, 24, 28].forEach((at) => d.setUint32(at, 65536, true))),
      'TOO_LARGE',
      20,
    ],
    ['metadata length 2^32-1', patched(f32, setU32(16, 0xffffffff)), 'TOO_LARGE', 16],
    ['metadata length 1 MiB + 1', patched(f32, setU32(16, (1 << 20) + 1)), 'TOO_LARGE', 16],
    // Length: the header implies it exactly.
    ['metadata length 1000 in a 200-byte blob', patched(f32, setU32(16, 1000)), 'TRUNCATED', 32],
    ['an f16 blob labelled f32', patched(f16, setU8(6, 0)), 'TRUNCATED', 152],
    ['an f32 blob labelled f16', patched(f32, setU8(6, 1)), 'TRAILING_BYTES', 160],
    ['one trailing zero byte', Uint8Array.from([...f32, 0]), 'TRAILING_BYTES', 200],
    ['a second blob appended', Uint8Array.from([...f32, ...f32]), 'TRAILING_BYTES', 200],
    // Checksum: any flipped bit that leaves the header valid.
    ['a flipped bit in a weight', patched(f32, flip(100, 3), false), 'CHECKSUM_MISMATCH', 196],
    ['a flipped bit in a bias', patched(f32, flip(190, 7), false), 'CHECKSUM_MISMATCH', 196],
    ['a flipped bit in the metadata', patched(f32, flip(40, 1), false), 'CHECKSUM_MISMATCH', 196],
    ['a flipped bit in alpha', patched(f32, flip(8, 0), false), 'CHECKSUM_MISMATCH', 196],
    ['a flipped bit in the checksum', patched(f32, flip(199, 0), false), 'CHECKSUM_MISMATCH', 196],
    ['a flipped bit in an int8 scale', patched(int8, flip(110, 2), false), 'CHECKSUM_MISMATCH', 156],
    // Behind a valid checksum: padding, metadata and every value are still checked.
    ['nonzero metadata padding', patched(f32, setU8(91, 1)), 'BAD_PADDING', 91],
    ['metadata 1 byte shorter, its last byte now padding', patched(f32, setU32(16, 57)), 'BAD_PADDING', 89],
    ['nonzero f16 weight padding', patched(f16, setU8(122, 0x80)), 'BAD_PADDING', 122],
    ['nonzero int8 weight padding', patched(int8, setU8(139, 1)), 'BAD_PADDING', 139],
    ['a NaN weight', patched(f32, setU32(92 + 4 * 7, 0x7fc00000)), 'NON_FINITE', 120],
    ['a signalling NaN weight', patched(f32, setU32(164, 0xff800001)), 'NON_FINITE', 164],
    ['an infinite bias', patched(f32, setF32(192, -Infinity)), 'NON_FINITE', 192],
    ['an f16 Inf weight', patched(f16, setU16(98, 0x7c00)), 'NON_FINITE', 98],
    ['an f16 NaN weight', patched(f16, setU16(136, 0xfe01)), 'NON_FINITE', 136],
    ['an f16 blob with a NaN (float32) bias', patched(f16, setF32(124, NaN)), 'NON_FINITE', 124],
    ['an int8 NaN scale', patched(int8, setF32(112, NaN)), 'NON_FINITE', 112],
    ['an int8 infinite scale', patched(int8, setF32(140, Infinity)), 'NON_FINITE', 140],
    ['an int8 negative scale', patched(int8, setF32(108, -0.01)), 'BAD_SCALE', 108],
    ['an int8 scale of -0', patched(int8, setF32(144, -0)), 'BAD_SCALE', 144],
    ['an int8 weight of -128', patched(int8, setU8(99, 0x80)), 'BAD_QUANTIZED', 99],
    ['an int8 NaN bias', patched(int8, setF32(152, NaN)), 'NON_FINITE', 152],
  ])('should refuse %s', (_, blob, code, offset) => {
    const err = decodeError(blob);
    expect([err.code, err.offset], err.message).toEqual([code, offset]);
    expect(err.message).toContain(`at byte ${offset}: `);
  });

  it('should refuse the empty blob as truncated at byte 0', () => {
    const err = decodeError(new Uint8Array(0));
    expect([err.code, err.offset, err.message]).toEqual([
      'TRUNCATED',
      0,
      'truncated at byte 0: magic needs 4 bytes, the blob ends at byte 0',
    ]);
  });

  it('should name both checksums in hex', () => {
    const err = decodeError(patched(f32, flip(100, 3), false));
    expect(err.message).toMatch(
      /^checksum mismatch at byte 196: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$/,
    );
  });

  it("should check the checksum with the crc32 it is given (the kernels'), over the bytes before it", () => {
    const seen: number[] = [];
    const given = (bytes: Uint8Array) => (seen.push(bytes.length), crc32(bytes));
    expect(decodeModel(f32, { crc32: given }).sizes).toEqual(SIZES);
    expect(seen).toEqual([196]);
    const wrong = () => decodeModel(f32, { crc32: (b) => (crc32(b) ^ 1) >>> 0 });
    expect(wrong).toThrow(ModelFormatError);
    expect(wrong).toThrow(/^checksum mismatch at byte 196/);
  });

  it('should read a blob that starts at an odd offset of its buffer as one that starts at 0', () => {
    for (const blob of [f32, int8, patched(f32, setU32(120, 0x7fc00000))]) {
      const shifted = new Uint8Array(blob.length + 3).subarray(3);
      shifted.set(blob);
      let aligned: unknown;
      let odd: unknown;
      try {
        aligned = decodeModel(blob);
      } catch (error) {
        aligned = (error as Error).message;
      }
      try {
        odd = decodeModel(shifted);
      } catch (error) {
        odd = (error as Error).message;
      }
      expect(odd).toEqual(aligned);
    }
    expect(decodeModel(f32).params.length).toBe(5 * 3 + 3 + 3 * 2 + 2);
  });

  it('should say what is wrong with a value and where', () => {
    expect(decodeError(patched(f32, setU32(120, 0x7fc00000))).message).toBe(
      'non-finite value at byte 120: layer 0 weight[7] is NaN',
    );
    expect(decodeError(patched(int8, setF32(108, -0.01))).message).toMatch(
      /^bad int8 scale at byte 108: layer 0 scale\[0\]/,
    );
  });

  it.each<[string, string | Uint8Array]>([
    ['empty', ''],
    ['not JSON', '{"dataset":"mnist"'],
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"mnist"'],
    ['missing createdAt', '{"dataset":"mnist"}'],
    ['an empty dataset', meta({ dataset: '' })],
    ['a numeric dataset', meta({ dataset: 7 })],
    ['a createdAt that is not a date', meta({ createdAt: 'soon' })],
    ['an accuracy in percent', meta({ testAccuracy: 98.1 })],
    ['a string accuracy', meta({ validationAccuracy: '0.9' })],
    ['training as an array', meta({ training: [] })],
    ['a numeric parentVersion', meta({ parentVersion: 3 })],
    ['a calibration that is not an object', meta({ calibration: 1.5 })],
    ['a calibration of an unknown method', meta({ calibration: { method: 'platt', temperature: 1 } })],
    ['a zero temperature', meta({ calibration: { method: 'temperature', temperature: 0 } })],
    ['a temperature given as a string', meta({ calibration: { method: 'temperature', temperature: '2' } })],
    ['whitespace (not canonical)', JSON.stringify(METADATA, null, 1)],
    ['an escaped letter (not canonical)', meta({}).replace('mnist', '\\u006dnist')],
    ['a duplicate key (not canonical)', '{"dataset":"x",' + meta({}).slice(1)],
    ['a byte order mark', '\ufeff' + meta({})],
    [
      'invalid UTF-8',
      Uint8Array.from([...new TextEncoder().encode(meta({}))].map((b, i) => (i === 14 ? 0xff : b))),
    ],
    ['an encoded lone surrogate', Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
  ])('should refuse metadata that is %s, with a valid checksum', (_, text) => {
    const err = decodeError(withMetadata(f32, text));
    expect([err.code, err.offset], err.message).toEqual(['BAD_METADATA', 32]);
  });

  it('should read a calibration without a method as a temperature', () => {
    const calibration = { temperature: 0.75 };
    expect(decodeModel(withMetadata(f32, meta({ calibration }))).metadata.calibration).toEqual(calibration);
  });

  it('should read a calibration with its temperature and keep its other keys', () => {
    const calibration = {
      method: 'temperature',
      temperature: 1.31,
      fittedOn: 'validation',
      test: { ece: 0.004 },
    };
    expect(decodeModel(withMetadata(f32, meta({ calibration }))).metadata.calibration).toEqual(calibration);
  });

  it('should keep metadata with unknown keys and escapes JSON.stringify itself writes', () => {
    const text = meta({ extra: { a: [1, 2.5, null, true] }, quote: '"\\\n\u0001', parentVersion: null });
    expect(decodeModel(withMetadata(f32, text)).metadata).toEqual(JSON.parse(text));
  });
});
