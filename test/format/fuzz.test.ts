/**
 * Properties over random input: the decoder throws nothing but ModelFormatError, and whatever it accepts
 * re-encodes to the very same bytes (one encoding per model).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeModel,
  encodeModel,
  ModelFormatError,
  paramCount,
  type WeightEncoding,
} from '../../src/format/index.ts';
import { encoded, METADATA, reseal } from './fixtures.ts';

const ENCODINGS: WeightEncoding[] = ['f32', 'f16', 'int8'];
const VALID = ENCODINGS.map((encoding) => encoded([5, 3, 2], encoding, 9));

/** Decodes, and fails the property on anything thrown that is not a ModelFormatError. */
function tryDecode(bytes: Uint8Array) {
  try {
    return decodeModel(bytes);
  } catch (err) {
    if (err instanceof ModelFormatError) return err;
    throw err;
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

const mutation = fc.record({
  blob: fc.constantFrom(...VALID),
  position: fc.nat(),
  value: fc.integer({ min: 0, max: 255 }),
});

describe('decodeModel on random input', () => {
  it('should throw only ModelFormatError for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expect(tryDecode(bytes)).toBeInstanceOf(ModelFormatError);
      }),
      { numRuns: 2000 },
    );
  });

  it('should throw only ModelFormatError for random bytes behind a valid magic and version', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 400 }), fc.boolean(), (bytes, sealed) => {
        bytes.set([0x45, 0x4d, 0x4c, 0x50, 1, 0]);
        if (bytes.length > 6) bytes[6] %= 4; // mostly valid encodings, sometimes not
        if (bytes.length > 7) bytes[7] %= 3;
        expect(tryDecode(sealed ? reseal(bytes) : bytes)).toBeInstanceOf(ModelFormatError);
      }),
      { numRuns: 2000 },
    );
  });

  it('should refuse every single-byte change to a valid blob', () => {
    fc.assert(
      fc.property(mutation, ({ blob, position, value }) => {
        const at = position % blob.length;
        fc.pre(blob[at] !== value);
        const changed = blob.slice();
        changed[at] = value;
        expect(tryDecode(changed)).toBeInstanceOf(ModelFormatError);
      }),
      { numRuns: 3000 },
    );
  });

  it('should, after a single-byte change and a fresh checksum, refuse it or re-encode it to the same bytes', () => {
    let accepted = 0;
    fc.assert(
      fc.property(mutation, ({ blob, position, value }) => {
        const changed = blob.slice();
        changed[position % (blob.length - 4)] = value;
        const sealed = reseal(changed);
        const result = tryDecode(sealed);
        if (result instanceof ModelFormatError) return;
        accepted++;
        expect(sameBytes(encodeModel(result), sealed)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(100); // most weight bytes can take any value: the property was exercised
  });

  it('should refuse every truncation of a valid blob as TRUNCATED', () => {
    for (const blob of VALID) {
      for (let n = 0; n < blob.length; n++) {
        const result = tryDecode(blob.subarray(0, n));
        if (!(result instanceof ModelFormatError) || result.code !== 'TRUNCATED') {
          expect.fail(`cut at ${n}: ${result instanceof ModelFormatError ? result.message : 'decoded'}`);
        }
      }
    }
  });
});

describe('encodeModel on random models', () => {
  const model = fc
    .record({
      sizes: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 2, maxLength: 5 }),
      encoding: fc.constantFrom(...ENCODINGS),
      alpha: fc.float({ min: 0, max: 1, noNaN: true }),
    })
    .chain(({ sizes, encoding, alpha }) =>
      fc
        .float32Array({
          minLength: paramCount(sizes),
          maxLength: paramCount(sizes),
          noNaN: true,
          noDefaultInfinity: true,
          // Beyond ±65504 an f16 weight overflows; the encoder refuses it (tested elsewhere).
          ...(encoding === 'f16' ? { min: -65504, max: 65504 } : {}),
        })
        .map((params) => ({ sizes, encoding, alpha, params, metadata: { ...METADATA, seed: params[0] } })),
    );

  it('should write blobs that decode and re-encode to the same bytes', () => {
    fc.assert(
      fc.property(model, (m) => {
        const blob = encodeModel(m);
        const decoded = decodeModel(blob);
        expect(sameBytes(encodeModel(decoded), blob)).toBe(true);
        if (m.encoding === 'f32') expect(decoded.params).toEqual(m.params);
      }),
      { numRuns: 500 },
    );
  });
});
