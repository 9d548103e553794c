/**
 * @module
 * The model blob format: one binary file per trained network, specified in `models/README.md`.
 * Pure bytes in, bytes out; no file system, R2 or network code.
 */
export { crc32 } from './crc32.ts';
export { decodeModel, type DecodeOptions } from './decode.ts';
export { describeModel } from './describe.ts';
export { encodeModel, encodeModelDecoded } from './encode.ts';
export { ModelFormatError, type ModelFormatErrorCode } from './errors.ts';
export {
  decodeMaster,
  encodeMaster,
  masterEntryOf,
  MasterMismatchError,
  startingWeights,
  withMaster,
  type MasterEntry,
} from './master.ts';
export { floatToHalfBits, halfBitsToFloat } from './half.ts';
export {
  FORMAT_VERSION,
  MAX_LAYER_SIZE,
  MAX_METADATA_BYTES,
  MAX_PARAMS,
  MAX_SIZE_COUNT,
  MIN_SIZE_COUNT,
  paramCount,
} from './layout.ts';
export { learnsFrom, preparationFor, preparationOf, preparedAs, type PreparedAs } from './metadata.ts';
export { quantizeRows, roundHalfEven } from './quantize.ts';
export {
  decodeSafetensors,
  DTYPE_BYTES,
  encodeSafetensors,
  MAX_HEADER_BYTES,
  SafetensorsError,
  type Dtype,
  type SafetensorsErrorCode,
  type SafetensorsFile,
  type Tensor,
} from './safetensors.ts';
export {
  exportMetadata,
  METADATA_KEYS,
  modelToSafetensors,
  safetensorsToModel,
  stateDictToModel,
  type ImportedStateDict,
} from './state-dict.ts';
export type { ModelData, ModelMetadata, WeightEncoding } from './types.ts';

/** The version this code writes and reads (alias of `FORMAT_VERSION`, under the name callers were promised). */
export { FORMAT_VERSION as formatVersion } from './layout.ts';
