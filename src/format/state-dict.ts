/**
 * @module
 * An edge-mlp network as a PyTorch state dict in a safetensors file, and back: the tensor names and shapes of
 * `nn.Sequential(nn.Linear, nn.LeakyReLU, nn.Linear, …)`, so `model.load_state_dict(...)` takes the file as is.
 * The names and `__metadata__` keys are specified in `models/README.md` ("safetensors").
 */
import { ModelFormatError } from './errors.ts';
import { halfBitsToFloat } from './half.ts';
import { checkSizes, paramCount } from './layout.ts';
import {
  decodeSafetensors,
  encodeSafetensors,
  SafetensorsError,
  type SafetensorsFile,
  type Tensor,
} from './safetensors.ts';
import type { ModelData, ModelMetadata, WeightEncoding } from './types.ts';

/** `__metadata__` keys written on export (all values are strings, as safetensors requires). */
export const METADATA_KEYS = {
  sizes: 'edge_mlp.sizes',
  activation: 'edge_mlp.activation',
  alpha: 'edge_mlp.alpha',
  encoding: 'edge_mlp.encoding',
  metadata: 'edge_mlp.metadata',
  calibration: 'edge_mlp.calibration',
} as const;

/** The float dtypes a weight or bias may have on import; each value is rounded to float32 once. */
const FLOAT_DTYPES = ['F32', 'F64', 'F16', 'BF16'];

/** The `nn.Sequential` index of dense layer `l` (a LeakyReLU sits between two Linears). */
export const sequentialIndex = (l: number) => 2 * l;

const TENSOR_NAME = /^(\d+)\.(weight|bias|weight_int8|weight_scale)$/;

/**
 * The state dict of a model as safetensors bytes: float32 `N.weight [out,in]` and `N.bias [out]` for
 * N = 0, 2, 4, …; for an int8 model the dequantized weights, or with `keepInt8` its int8 `N.weight_int8 [out,in]`
 * and float32 `N.weight_scale [out]` (weight = weight_int8 · weight_scale per row) instead of `N.weight`.
 */
export function modelToSafetensors(model: ModelData, options: { keepInt8?: boolean } = {}): Uint8Array {
  const { sizes, params } = model;
  const keepInt8 = options.keepInt8 === true && model.quantized !== undefined;
  const tensors: (Tensor & { name: string })[] = [];
  const f32 = (values: Float32Array) => new Uint8Array(values.slice().buffer);
  for (let l = 0, at = 0; l + 1 < sizes.length; l++) {
    const [inSize, outSize] = [sizes[l], sizes[l + 1]];
    const i = sequentialIndex(l);
    const weight = params.subarray(at, at + outSize * inSize);
    const bias = params.subarray(at + outSize * inSize, at + outSize * (inSize + 1));
    if (keepInt8) {
      const { q, scale } = model.quantized![l];
      const data = new Uint8Array(q.buffer, q.byteOffset, q.length).slice();
      tensors.push({ name: `${i}.weight_int8`, dtype: 'I8', shape: [outSize, inSize], data });
      tensors.push({ name: `${i}.weight_scale`, dtype: 'F32', shape: [outSize], data: f32(scale) });
    } else {
      tensors.push({ name: `${i}.weight`, dtype: 'F32', shape: [outSize, inSize], data: f32(weight) });
    }
    tensors.push({ name: `${i}.bias`, dtype: 'F32', shape: [outSize], data: f32(bias) });
    at += outSize * (inSize + 1);
  }
  return encodeSafetensors(tensors, exportMetadata(model));
}

/** The `__metadata__` of an export (also used as ONNX `metadata_props`). */
export function exportMetadata(model: ModelData): Record<string, string> {
  const out: Record<string, string> = {
    format: 'pt',
    [METADATA_KEYS.sizes]: model.sizes.join(','),
    [METADATA_KEYS.activation]: 'leaky_relu',
    [METADATA_KEYS.alpha]: String(model.alpha),
    [METADATA_KEYS.encoding]: model.encoding,
    [METADATA_KEYS.metadata]: JSON.stringify(model.metadata),
  };
  if (model.metadata.calibration !== undefined) {
    out[METADATA_KEYS.calibration] = JSON.stringify(model.metadata.calibration);
  }
  return out;
}

export interface ImportedStateDict {
  sizes: number[];
  /** From `edge_mlp.alpha`, else null (the caller picks a default). */
  alpha: number | null;
  /** Flat, as `ModelData.params` (dequantized weights for int8 layers). */
  params: Float32Array;
  /** Present when every layer came as `weight_int8` + `weight_scale`. */
  quantized?: { q: Int8Array; scale: Float32Array }[];
  /** The blob metadata an edge-mlp export carried (`edge_mlp.metadata`), else null. */
  metadata: ModelMetadata | null;
  /** The encoding of the blob the file was exported from (`edge_mlp.encoding`), else null. */
  sourceEncoding: WeightEncoding | null;
}

/** What the caller expects of the network, checked with an error naming the tensor. */
export interface StateDictExpectations {
  /** Inputs of the first layer (784 for MNIST). */
  inputs?: number;
  /** Outputs of the last layer (10 for digits). */
  outputs?: number;
}

/**
 * Reads a network's state dict from safetensors bytes (`decodeSafetensors` plus `stateDictToModel`).
 * @throws {SafetensorsError}
 */
export function safetensorsToModel(bytes: Uint8Array, expect: StateDictExpectations = {}): ImportedStateDict {
  return stateDictToModel(decodeSafetensors(bytes), expect);
}

/**
 * Checks every name, dtype, shape and value of a state dict and returns the network it holds.
 * @throws {SafetensorsError} `UNEXPECTED_TENSOR`, `MISSING_TENSOR`, `WRONG_DTYPE`, `WRONG_SHAPE`, `NON_FINITE`,
 *   `BAD_VALUE` or `BAD_MODEL_METADATA`, naming the tensor
 */
export function stateDictToModel(
  file: SafetensorsFile,
  expect: StateDictExpectations = {},
): ImportedStateDict {
  const { tensors } = file;
  const indices = new Set<number>();
  for (const name of tensors.keys()) {
    const match = TENSOR_NAME.exec(name);
    if (!match || Number(match[1]) % 2 !== 0) {
      throw new SafetensorsError(
        'UNEXPECTED_TENSOR',
        name,
        'expected only N.weight (or N.weight_int8 and N.weight_scale) and N.bias for N = 0, 2, 4, … ' +
          '(the Linear layers of nn.Sequential(Linear, LeakyReLU, Linear, …))',
      );
    }
    indices.add(Number(match[1]));
  }
  if (indices.size === 0) throw new SafetensorsError('MISSING_TENSOR', '0.weight', 'the file holds no layer');
  const layerCount = Math.max(...indices) / 2 + 1;
  for (let l = 0; l < layerCount; l++) {
    if (!indices.has(sequentialIndex(l))) {
      throw new SafetensorsError(
        'MISSING_TENSOR',
        `${sequentialIndex(l)}.weight`,
        `not in the file, which has layers up to ${sequentialIndex(layerCount - 1)}`,
      );
    }
  }

  // Shapes first, for every layer, so nothing large is converted before the whole network is known to fit.
  const sizes: number[] = [];
  const layers = Array.from({ length: layerCount }, (_, l) => {
    const i = sequentialIndex(l);
    const get = (suffix: string) => tensors.get(`${i}.${suffix}`);
    const [float, q, scale, bias] = [get('weight'), get('weight_int8'), get('weight_scale'), get('bias')];
    if (float && (q || scale)) {
      throw new SafetensorsError(
        'UNEXPECTED_TENSOR',
        `${i}.${q ? 'weight_int8' : 'weight_scale'}`,
        `layer ${i} has both ${i}.weight and int8 weights; keep one`,
      );
    }
    if (!float && !(q && scale)) {
      const missing = q ? 'weight_scale' : scale ? 'weight_int8' : 'weight';
      throw new SafetensorsError('MISSING_TENSOR', `${i}.${missing}`, 'not in the file');
    }
    if (!bias) throw new SafetensorsError('MISSING_TENSOR', `${i}.bias`, 'not in the file');
    const weightName = float ? `${i}.weight` : `${i}.weight_int8`;
    const weight = (float ?? q)!;
    if (weight.shape.length !== 2) {
      throw wrongShape(weightName, weight.shape, '[out, in], two dimensions');
    }
    const [outSize, inSize] = weight.shape;
    if (l === 0) {
      if (expect.inputs !== undefined && inSize !== expect.inputs) {
        throw wrongShape(
          weightName,
          weight.shape,
          `[${outSize}, ${expect.inputs}]: the inputs are images of ${expect.inputs} pixels`,
        );
      }
      sizes.push(inSize);
    } else if (inSize !== sizes[l]) {
      throw wrongShape(
        weightName,
        weight.shape,
        `[${outSize}, ${sizes[l]}]: its inputs are the ${sizes[l]} outputs of layer ${sequentialIndex(l - 1)}`,
      );
    }
    if (l === layerCount - 1 && expect.outputs !== undefined && outSize !== expect.outputs) {
      throw wrongShape(
        weightName,
        weight.shape,
        `[${expect.outputs}, ${inSize}]: the network has ${expect.outputs} classes`,
      );
    }
    sizes.push(outSize);
    checkShape(`${i}.bias`, bias, [outSize]);
    if (scale) checkShape(`${i}.weight_scale`, scale, [outSize]);
    if (q) checkDtype(`${i}.weight_int8`, q, ['I8']);
    if (scale) checkDtype(`${i}.weight_scale`, scale, FLOAT_DTYPES);
    if (float) checkDtype(`${i}.weight`, float, FLOAT_DTYPES);
    checkDtype(`${i}.bias`, bias, FLOAT_DTYPES);
    return { i, float, q, scale, bias, inSize, outSize };
  });
  try {
    checkSizes(sizes, -1);
  } catch (err) {
    if (err instanceof ModelFormatError) throw new SafetensorsError('WRONG_SHAPE', null, err.message);
    throw err;
  }

  const params = new Float32Array(paramCount(sizes));
  const quantized: { q: Int8Array; scale: Float32Array; bias: Float32Array }[] = [];
  let at = 0;
  for (const { i, float, q, scale, bias, inSize, outSize } of layers) {
    const n = outSize * inSize;
    let layerQ: { q: Int8Array; scale: Float32Array } | null = null;
    if (float) {
      params.set(readFloats(`${i}.weight`, float), at);
    } else {
      const s = readFloats(`${i}.weight_scale`, scale!);
      s.forEach((v, r) => {
        if (v < 0 || Object.is(v, -0)) {
          throw new SafetensorsError(
            'BAD_VALUE',
            `${i}.weight_scale`,
            `element ${r} is ${v}, scales must be ≥ +0`,
          );
        }
      });
      const qs = new Int8Array(q!.data.buffer, q!.data.byteOffset, n).slice();
      for (let k = 0; k < n; k++) {
        if (qs[k] === -128) {
          throw new SafetensorsError(
            'BAD_VALUE',
            `${i}.weight_int8`,
            `element ${k} is -128, expected -127 to 127`,
          );
        }
        params[at + k] = qs[k] * s[Math.floor(k / inSize)];
      }
      layerQ = { q: qs, scale: s };
    }
    params.set(readFloats(`${i}.bias`, bias), at + n);
    if (layerQ) quantized.push({ ...layerQ, bias: params.slice(at + n, at + n + outSize) });
    at += n + outSize;
  }

  const result: ImportedStateDict = {
    sizes,
    alpha: readAlpha(file.metadata),
    params,
    metadata: readBlobMetadata(file.metadata),
    sourceEncoding: readEncoding(file.metadata),
  };
  if (quantized.length === layerCount) result.quantized = quantized;
  checkDeclaredSizes(file.metadata, sizes);
  return result;
}

const wrongShape = (name: string, shape: number[], expected: string) =>
  new SafetensorsError('WRONG_SHAPE', name, `shape [${shape.join(', ')}], expected ${expected}`);

function checkShape(name: string, tensor: Tensor, expected: number[]): void {
  if (tensor.shape.length !== expected.length || tensor.shape.some((d, k) => d !== expected[k])) {
    throw wrongShape(name, tensor.shape, `[${expected.join(', ')}]`);
  }
}

function checkDtype(name: string, tensor: Tensor, allowed: string[]): void {
  if (!allowed.includes(tensor.dtype)) {
    throw new SafetensorsError(
      'WRONG_DTYPE',
      name,
      `dtype ${tensor.dtype}, expected ${allowed.join(' or ')}`,
    );
  }
}

/** The tensor's values as float32 (each rounded once), refusing NaN and ±Inf with the element's index. */
export function readFloats(name: string, tensor: Tensor): Float32Array {
  const { data, dtype } = tensor;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let out: Float32Array;
  if (dtype === 'F32') {
    out = new Float32Array(data.length / 4);
    new Uint8Array(out.buffer).set(data); // little-endian machines (checked in layout.ts); copied, so aligned
    if (!LITTLE_ENDIAN) for (let k = 0; k < out.length; k++) out[k] = view.getFloat32(4 * k, true);
  } else if (dtype === 'F64') {
    out = Float32Array.from({ length: data.length / 8 }, (_, k) => view.getFloat64(8 * k, true));
  } else if (dtype === 'F16') {
    out = Float32Array.from({ length: data.length / 2 }, (_, k) =>
      halfBitsToFloat(view.getUint16(2 * k, true)),
    );
  } else if (dtype === 'BF16') {
    const bits = new Uint32Array(data.length / 2);
    for (let k = 0; k < bits.length; k++) bits[k] = view.getUint16(2 * k, true) << 16;
    out = new Float32Array(bits.buffer);
  } else {
    throw new SafetensorsError('WRONG_DTYPE', name, `dtype ${dtype}, expected ${FLOAT_DTYPES.join(' or ')}`);
  }
  for (let k = 0; k < out.length; k++) {
    if (!Number.isFinite(out[k])) {
      const original = dtype === 'F64' ? view.getFloat64(8 * k, true) : out[k];
      throw new SafetensorsError(
        'NON_FINITE',
        name,
        `element ${k} is ${original}${Number.isFinite(original) ? ', beyond the float32 range' : ''}`,
      );
    }
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const badMetadata = (key: string, detail: string) =>
  new SafetensorsError('BAD_MODEL_METADATA', null, `__metadata__ ${JSON.stringify(key)}: ${detail}`);

function readAlpha(metadata: Record<string, string> | null): number | null {
  const text = metadata?.[METADATA_KEYS.alpha];
  if (text === undefined) return null;
  const alpha = Number(text);
  if (text.trim() === '' || !(alpha >= 0 && alpha < 1)) {
    throw badMetadata(METADATA_KEYS.alpha, `${JSON.stringify(text)} is not a LeakyReLU slope in [0, 1)`);
  }
  const activation = metadata?.[METADATA_KEYS.activation];
  if (activation !== undefined && activation !== 'leaky_relu') {
    throw badMetadata(METADATA_KEYS.activation, `${JSON.stringify(activation)}, only leaky_relu is known`);
  }
  return alpha;
}

function readBlobMetadata(metadata: Record<string, string> | null): ModelMetadata | null {
  const text = metadata?.[METADATA_KEYS.metadata];
  if (text === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badMetadata(METADATA_KEYS.metadata, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badMetadata(METADATA_KEYS.metadata, 'not a JSON object');
  }
  return value as ModelMetadata;
}

function readEncoding(metadata: Record<string, string> | null): WeightEncoding | null {
  const text = metadata?.[METADATA_KEYS.encoding];
  return text === 'f32' || text === 'f16' || text === 'int8' ? text : null;
}

function checkDeclaredSizes(metadata: Record<string, string> | null, sizes: number[]): void {
  const text = metadata?.[METADATA_KEYS.sizes];
  if (text !== undefined && text !== sizes.join(',')) {
    throw badMetadata(METADATA_KEYS.sizes, `says ${text}, but the tensors make ${sizes.join(',')}`);
  }
}
