/** The codec inside the Workers runtime, where the model is decoded: same bytes, same errors as in Node. */
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, ModelFormatError } from '../../src/format/index.ts';
import { makeModel, METADATA, withMetadata } from './fixtures.ts';

describe('format in workerd', () => {
  it.each(['f32', 'f16', 'int8'] as const)('should round-trip %s byte-identically', (encoding) => {
    const model = makeModel([9, 7, 3], encoding);
    model.metadata.note = 'żółw 🐢';
    const blob = encodeModel(model);
    expect(Array.from(encodeModel(decodeModel(blob)))).toEqual(Array.from(blob));
  });

  it.each([
    ['a byte order mark', '\ufeff' + JSON.stringify(METADATA)],
    ['invalid UTF-8', Uint8Array.of(0x7b, 0xff, 0x7d)],
  ])('should refuse metadata with %s', (_, metadata) => {
    const blob = withMetadata(encodeModel(makeModel([1, 1], 'f32')), metadata);
    expect(() => decodeModel(blob)).toThrow(ModelFormatError);
    expect(() => decodeModel(blob)).toThrow(/^bad metadata at byte 28: /);
  });
});
