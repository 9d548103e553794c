/**
 * Builders for the safetensors tests: raw files from a header and data bytes (so a test can say exactly what is
 * wrong), a valid state dict to corrupt, and the table of bad files shared by the format and the CLI tests.
 */
import { encodeSafetensors, type SafetensorsErrorCode, type Tensor } from '../../src/format/index.ts';

const utf8 = new TextEncoder();

/** 8-byte LE length + header text + data, with the length as given (default: the header's own). */
export function rawFile(header: unknown, data: Uint8Array, length?: bigint): Uint8Array {
  const text = utf8.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

/** A tiny valid state dict: 3 inputs → 2 hidden → 2 outputs (`0.*`, `2.*`), float32, no metadata. */
export function tinyStateDict(): (Tensor & { name: string })[] {
  return [
    { name: '0.weight', dtype: 'F32', shape: [2, 3], data: f32([0.1, -0.2, 0.3, 0.4, 0.5, -0.6]) },
    { name: '0.bias', dtype: 'F32', shape: [2], data: f32([0.01, -0.02]) },
    { name: '2.weight', dtype: 'F32', shape: [2, 2], data: f32([1, -1, 0.5, 2]) },
    { name: '2.bias', dtype: 'F32', shape: [2], data: f32([0, 0.1]) },
  ];
}

/** The tiny state dict as a file, with `edit` applied to its tensor list first. */
export function tinyFile(
  edit: (tensors: (Tensor & { name: string })[]) => void = () => {},
  metadata?: Record<string, string>,
): Uint8Array {
  const tensors = tinyStateDict();
  edit(tensors);
  return encodeSafetensors(tensors, metadata);
}

const replace = (name: string, tensor: Partial<Tensor>) => (tensors: (Tensor & { name: string })[]) => {
  const i = tensors.findIndex((t) => t.name === name);
  tensors[i] = { ...tensors[i], ...tensor };
};

export interface BadFile {
  what: string;
  bytes: () => Uint8Array;
  code: SafetensorsErrorCode;
  /** The tensor the error must name, or null for the file as a whole. */
  tensor: string | null;
  /** Words the message must contain. */
  says: string;
}

const entry = (dtype: string, shape: number[], offsets: number[]) => ({
  dtype,
  shape,
  data_offsets: offsets,
});

/** Every way a file can be refused, each with the code and tensor the error must name. */
export const BAD_FILES: BadFile[] = [
  {
    what: 'a truncated header length',
    bytes: () => Uint8Array.of(8, 0, 0),
    code: 'HEADER_TRUNCATED',
    tensor: null,
    says: '8-byte header length',
  },
  {
    what: 'a header length beyond the file',
    bytes: () => rawFile({}, new Uint8Array(0), 5000n),
    code: 'HEADER_BEYOND_FILE',
    tensor: null,
    says: 'header length 5000',
  },
  {
    what: 'a header length of 2^40 (refused before allocating)',
    bytes: () => rawFile({}, new Uint8Array(0), 1n << 40n),
    code: 'HEADER_TOO_LARGE',
    tensor: null,
    says: 'the limit is',
  },
  {
    what: 'a header that is not JSON',
    bytes: () => rawFile('{"0.weight": ', new Uint8Array(0)),
    code: 'BAD_HEADER',
    tensor: null,
    says: 'not valid JSON',
  },
  {
    what: 'a header not starting with {',
    bytes: () => rawFile(' []', new Uint8Array(0)),
    code: 'BAD_HEADER',
    tensor: null,
    says: 'must start with',
  },
  {
    what: 'non-string metadata',
    bytes: () => rawFile({ __metadata__: { a: 1 } }, new Uint8Array(0)),
    code: 'BAD_METADATA',
    tensor: null,
    says: 'string values',
  },
  {
    what: 'an unknown dtype',
    bytes: () => rawFile({ '0.weight': entry('Q4', [2], [0, 2]) }, new Uint8Array(2)),
    code: 'UNKNOWN_DTYPE',
    tensor: '0.weight',
    says: '"Q4"',
  },
  {
    what: 'a missing dtype',
    bytes: () => rawFile({ '0.bias': { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
    code: 'BAD_TENSOR_INFO',
    tensor: '0.bias',
    says: 'dtype',
  },
  {
    what: 'a negative dimension',
    bytes: () => rawFile({ '0.bias': entry('F32', [-1], [0, 4]) }, new Uint8Array(4)),
    code: 'BAD_TENSOR_INFO',
    tensor: '0.bias',
    says: 'shape',
  },
  {
    what: 'offsets out of range',
    bytes: () => rawFile({ '0.bias': entry('F32', [4], [0, 16]) }, new Uint8Array(8)),
    code: 'BAD_OFFSETS',
    tensor: '0.bias',
    says: 'run past the data',
  },
  {
    what: 'reversed offsets',
    bytes: () => rawFile({ '0.bias': entry('F32', [1], [8, 4]) }, new Uint8Array(8)),
    code: 'BAD_OFFSETS',
    tensor: '0.bias',
    says: 'reversed',
  },
  {
    what: 'offsets that do not match the shape',
    bytes: () => rawFile({ '0.bias': entry('F32', [3], [0, 8]) }, new Uint8Array(8)),
    code: 'BAD_OFFSETS',
    tensor: '0.bias',
    says: 'needs 12',
  },
  {
    what: 'a shape whose size overflows',
    bytes: () => rawFile({ '0.bias': entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 8]) }, new Uint8Array(8)),
    code: 'BAD_OFFSETS',
    tensor: '0.bias',
    says: 'more than 2^53',
  },
  {
    what: 'overlapping tensors',
    bytes: () =>
      rawFile(
        { '0.weight': entry('F32', [2], [0, 8]), '0.bias': entry('F32', [2], [4, 12]) },
        new Uint8Array(12),
      ),
    code: 'OVERLAPPING_TENSORS',
    tensor: '0.bias',
    says: 'overlap tensor "0.weight"',
  },
  {
    what: 'a hole between tensors',
    bytes: () =>
      rawFile(
        { '0.weight': entry('F32', [1], [0, 4]), '0.bias': entry('F32', [1], [8, 12]) },
        new Uint8Array(12),
      ),
    code: 'UNCOVERED_BYTES',
    tensor: '0.bias',
    says: 'belong to no tensor',
  },
  {
    what: 'trailing bytes',
    bytes: () => rawFile({ '0.bias': entry('F32', [1], [0, 4]) }, new Uint8Array(6)),
    code: 'UNCOVERED_BYTES',
    tensor: null,
    says: 'has 6 bytes',
  },
  // The state dict inside a well-formed file.
  {
    what: 'a missing bias',
    bytes: () => tinyFile((t) => t.splice(3, 1)),
    code: 'MISSING_TENSOR',
    tensor: '2.bias',
    says: 'not in the file',
  },
  {
    what: 'a missing layer',
    bytes: () =>
      tinyFile((t) => {
        t[2].name = '4.weight';
        t[3].name = '4.bias';
      }),
    code: 'MISSING_TENSOR',
    tensor: '2.weight',
    says: 'layers up to 4',
  },
  {
    what: 'an unexpected tensor',
    bytes: () => tinyFile((t) => t.push({ ...t[1], name: 'fc.bias' })),
    code: 'UNEXPECTED_TENSOR',
    tensor: 'fc.bias',
    says: 'nn.Sequential',
  },
  {
    what: 'a wrong shape',
    bytes: () => tinyFile(replace('2.weight', { shape: [1, 4] })),
    code: 'WRONG_SHAPE',
    tensor: '2.weight',
    says: 'shape [1, 4], expected [1, 2]',
  },
  {
    what: 'a bias of the wrong length',
    bytes: () => tinyFile(replace('0.bias', { shape: [1, 2] })),
    code: 'WRONG_SHAPE',
    tensor: '0.bias',
    says: 'expected [2]',
  },
  {
    what: 'an integer weight',
    bytes: () => tinyFile(replace('2.weight', { dtype: 'I32' })),
    code: 'WRONG_DTYPE',
    tensor: '2.weight',
    says: 'dtype I32',
  },
  {
    what: 'a NaN weight',
    bytes: () => tinyFile(replace('2.weight', { data: f32([1, NaN, 0.5, 2]) })),
    code: 'NON_FINITE',
    tensor: '2.weight',
    says: 'element 1 is NaN',
  },
  {
    what: 'an infinite bias',
    bytes: () => tinyFile(replace('0.bias', { data: f32([0, -Infinity]) })),
    code: 'NON_FINITE',
    tensor: '0.bias',
    says: 'element 1 is -Infinity',
  },
  {
    what: 'a float64 beyond float32',
    bytes: () =>
      tinyFile(replace('2.bias', { dtype: 'F64', data: new Uint8Array(Float64Array.of(0, 1e300).buffer) })),
    code: 'NON_FINITE',
    tensor: '2.bias',
    says: 'beyond the float32 range',
  },
  {
    what: 'an int8 weight of -128',
    bytes: () =>
      tinyFile((t) => {
        t[2] = { name: '2.weight_int8', dtype: 'I8', shape: [2, 2], data: new Uint8Array([1, 0x80, 3, 4]) };
        t.push({ name: '2.weight_scale', dtype: 'F32', shape: [2], data: f32([0.1, 0.1]) });
      }),
    code: 'BAD_VALUE',
    tensor: '2.weight_int8',
    says: '-128',
  },
  {
    what: 'an int8 weight without its scale',
    bytes: () =>
      tinyFile((t) => {
        t[2] = { name: '2.weight_int8', dtype: 'I8', shape: [2, 2], data: new Uint8Array(4) };
      }),
    code: 'MISSING_TENSOR',
    tensor: '2.weight_scale',
    says: 'not in the file',
  },
  {
    what: 'a bad LeakyReLU slope in the metadata',
    bytes: () => tinyFile(() => {}, { 'edge_mlp.alpha': 'lots' }),
    code: 'BAD_MODEL_METADATA',
    tensor: null,
    says: 'edge_mlp.alpha',
  },
];
