/**
 * @module
 * A one-line summary of a model for logs and listings; not a serializer.
 */
import { blobLayout, paramCount } from './layout.ts';
import { serializeMetadata } from './metadata.ts';
import type { ModelData } from './types.ts';

/**
 * E.g. `784-1024-512-10 LeakyReLU(0.01) int8, 1333770 params, 1345160 bytes, mnist`.
 * @throws {ModelFormatError} `BAD_METADATA` when the metadata could not be encoded
 */
export function describeModel(model: ModelData): string {
  const bytes = blobLayout(model.sizes, model.encoding, serializeMetadata(model.metadata).length).totalLength;
  const alpha = Number(model.alpha.toPrecision(6));
  return (
    `${model.sizes.join('-')} LeakyReLU(${alpha}) ${model.encoding}, ${paramCount(model.sizes)} params, ` +
    `${bytes} bytes, ${model.metadata.dataset}`
  );
}
