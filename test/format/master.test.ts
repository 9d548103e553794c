import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../src/format/index.ts';
import {
  decodeMaster,
  encodeMaster,
  masterEntryOf,
  masterFileOf,
  MasterMismatchError,
  startingWeights,
  withMaster,
} from '../../src/format/master.ts';
import { makeModel } from './fixtures.ts';

describe('master weights', () => {
  const model = makeModel([6, 5, 3], 'int8', 3);
  const masterBytes = encodeMaster(model);
  const serving = decodeModel(encodeModel(withMaster(model, masterBytes)));

  it('should give back the exact float32 weights an int8 blob was quantized from', () => {
    expect(serving.params).not.toEqual(model.params); // int8 rounds them
    expect(decodeMaster(serving, masterBytes)).toEqual(model.params);
    expect(startingWeights(serving, masterBytes)).toEqual({ params: model.params, source: 'master' });
    expect(masterEntryOf(serving)).toEqual({ crc32: expect.any(Number), bytes: masterBytes.length });
    expect(decodeModel(masterBytes).metadata.role).toBe('master');
  });

  it('should refuse a master that belongs to another blob, or is not an f32 blob of the same network', () => {
    const other = encodeMaster(makeModel([6, 5, 3], 'int8', 4));
    expect(() => decodeMaster(serving, other)).toThrow(MasterMismatchError);
    const noEntry = decodeModel(encodeModel(model));
    expect(() => decodeMaster(noEntry, masterBytes)).toThrow(/names no master/);
    const wrongShape = encodeMaster(makeModel([6, 4, 3], 'int8', 3));
    const claims = decodeModel(encodeModel(withMaster(model, wrongShape)));
    expect(() => decodeMaster(claims, wrongShape)).toThrow(/6-4-3/);
  });

  it('should start an f32 blob from itself and an int8 blob without a master from its dequantized weights', () => {
    const f32 = decodeModel(encodeModel(makeModel([6, 5, 3], 'f32', 5)));
    expect(startingWeights(f32, null).source).toBe('serving-f32');
    expect(startingWeights(serving, null)).toEqual({ params: serving.params, source: 'dequantized' });
  });

  it('should name the master file beside the serving file', () => {
    expect(masterFileOf('models/default.bin')).toBe('models/default.master.bin');
  });
});
