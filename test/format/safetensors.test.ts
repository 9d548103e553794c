import { describe, expect, it } from 'vitest';
import {
  decodeModel,
  decodeSafetensors,
  encodeModel,
  encodeSafetensors,
  modelToSafetensors,
  SafetensorsError,
  safetensorsToModel,
} from '../../src/format/index.ts';
import { floatToHalfBits } from '../../src/format/half.ts';
import { makeModel } from './fixtures.ts';
import { BAD_FILES, rawFile, tinyFile } from './safetensors-fixtures.ts';

const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('decodeSafetensors', () => {
  it('should read back what encodeSafetensors wrote, with the header padded to 8 bytes and aligned data', () => {
    const bytes = encodeSafetensors(
      [
        { name: 'q', dtype: 'I8', shape: [3], data: Uint8Array.of(1, 2, 0xff) },
        { name: 'w', dtype: 'F32', shape: [1, 2], data: new Uint8Array(Float32Array.of(1.5, -2).buffer) },
      ],
      { note: 'hi' },
    );
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const file = decodeSafetensors(bytes);
    expect(file.metadata).toEqual({ note: 'hi' });
    expect([...file.tensors.keys()]).toEqual(['w', 'q']); // the 4-byte dtype first, so both start aligned
    expect(new Float32Array(file.tensors.get('w')!.data.slice().buffer)).toEqual(Float32Array.of(1.5, -2));
    expect([...new Int8Array(file.tensors.get('q')!.data.slice().buffer)]).toEqual([1, 2, -1]);
  });

  it('should accept an empty file (no tensors) and zero-sized tensors', () => {
    expect(decodeSafetensors(rawFile({}, new Uint8Array(0))).tensors.size).toBe(0);
    const file = decodeSafetensors(
      rawFile({ e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } }, new Uint8Array(0)),
    );
    expect(file.tensors.get('e')!.shape).toEqual([0, 3]);
  });

  it('should refuse to write a tensor whose bytes do not match its shape', () => {
    expect(() =>
      encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: new Uint8Array(4) }]),
    ).toThrow(/tensor "x": 4 bytes, shape \[2\] of F32 needs 8/);
  });
});

describe('bad safetensors files', () => {
  it.each(BAD_FILES)('should refuse $what with $code naming the tensor', ({ bytes, code, tensor, says }) => {
    let error: unknown;
    try {
      safetensorsToModel(bytes());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetensorsError);
    const e = error as SafetensorsError;
    expect({ code: e.code, tensor: e.tensor }).toEqual({ code, tensor });
    expect(e.message).toContain(says);
    if (tensor !== null) expect(e.message).toContain(`tensor "${tensor}"`);
    expect(e.message).not.toContain('\n');
  });
});

describe('modelToSafetensors / safetensorsToModel', () => {
  it('should give back a float32 model bit for bit, with PyTorch names, shapes and the metadata', () => {
    const model = decodeModel(encodeModel(makeModel([7, 5, 4, 3], 'f32', 3)));
    const bytes = modelToSafetensors(model);
    const file = decodeSafetensors(bytes);
    expect([...file.tensors].map(([name, t]) => `${name} ${t.dtype} [${t.shape}]`)).toEqual([
      '0.weight F32 [5,7]',
      '0.bias F32 [5]',
      '2.weight F32 [4,5]',
      '2.bias F32 [4]',
      '4.weight F32 [3,4]',
      '4.bias F32 [3]',
    ]);
    expect(file.metadata).toMatchObject({
      format: 'pt',
      'edge_mlp.sizes': '7,5,4,3',
      'edge_mlp.activation': 'leaky_relu',
    });
    const back = safetensorsToModel(bytes);
    expect(back.sizes).toEqual(model.sizes);
    expect(Math.fround(back.alpha!)).toBe(model.alpha);
    expect(bitsOf(back.params)).toEqual(bitsOf(model.params));
    expect(back.metadata).toEqual(model.metadata);
    expect(back.sourceEncoding).toBe('f32');
    expect(back.quantized).toBeUndefined();
  });

  it('should export an int8 model dequantized, or with --keep-int8 as its exact int8 weights and scales', () => {
    const model = decodeModel(encodeModel(makeModel([6, 4, 2], 'int8', 5)));
    const dequantized = safetensorsToModel(modelToSafetensors(model));
    expect(bitsOf(dequantized.params)).toEqual(bitsOf(model.params));
    expect(dequantized.quantized).toBeUndefined();

    const kept = modelToSafetensors(model, { keepInt8: true });
    expect([...decodeSafetensors(kept).tensors.keys()]).toEqual([
      '0.weight_scale',
      '0.bias',
      '2.weight_scale',
      '2.bias',
      '0.weight_int8',
      '2.weight_int8',
    ]);
    const back = safetensorsToModel(kept);
    expect(back.quantized).toEqual(model.quantized);
    expect(bitsOf(back.params)).toEqual(bitsOf(model.params));
    // Re-encoded with the same metadata, the blob is the original byte for byte.
    const reencoded = encodeModel({
      ...model,
      alpha: Math.fround(back.alpha!),
      params: back.params,
      quantized: back.quantized!,
    });
    expect(reencoded).toEqual(encodeModel(model));
  });

  it('should carry calibration in its own metadata key when the blob has one', () => {
    const model = makeModel([3, 2], 'f32');
    model.metadata.calibration = { method: 'temperature', temperature: 1.5 };
    const { metadata } = decodeSafetensors(modelToSafetensors(model));
    expect(JSON.parse(metadata!['edge_mlp.calibration'])).toEqual({
      method: 'temperature',
      temperature: 1.5,
    });
  });

  it('should read float64, float16 and bfloat16 weights as float32, each rounded once', () => {
    const f64 = Float64Array.of(0.1, -0.2, 0.3, 0.4, 0.5, -0.6);
    const half = Uint16Array.from([0.1, -0.2, 0.3, 0.4, 0.5, -0.6], floatToHalfBits);
    const bf16 = Uint16Array.from(new Uint32Array(Float32Array.of(0.1, -0.2).buffer), (b) => b >>> 16);
    const model = safetensorsToModel(
      tinyFile((t) => {
        t[0] = { ...t[0], dtype: 'F64', data: new Uint8Array(f64.buffer) };
        t[1] = { ...t[1], dtype: 'BF16', data: new Uint8Array(bf16.buffer) };
        t[2] = { ...t[2], dtype: 'F16', data: new Uint8Array(half.buffer, 0, 8) };
      }),
    );
    expect([...model.params.subarray(0, 6)]).toEqual([...Float32Array.from(f64)]);
    expect(model.params[6]).toBe(new Float32Array(new Uint32Array([bf16[0] << 16]).buffer)[0]);
    expect(model.params[8]).toBeCloseTo(0.1, 3); // 2.weight[0] from float16
    expect(model.alpha).toBeNull(); // no edge_mlp.alpha: the caller picks the slope
  });

  it('should check the first and last layer against what the caller expects, naming the tensor', () => {
    expect(() => safetensorsToModel(tinyFile(), { inputs: 784 })).toThrow(
      'tensor "0.weight": shape [2, 3], expected [2, 784]: the inputs are images of 784 pixels',
    );
    expect(() => safetensorsToModel(tinyFile(), { outputs: 10 })).toThrow(/tensor "2.weight".*10 classes/);
  });
});
