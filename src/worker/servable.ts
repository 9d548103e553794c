/**
 * @module
 * The one answer to "can this blob be served": it decodes (`src/format`), `src/nn` can run it (`checkSpec`: e.g. a
 * LeakyReLU slope below 1, which the format alone allows up to 1), and it is a 784-…-10 digit classifier. Publish,
 * rollback and the model cache all ask here, so nothing can become current that `/predict` would refuse.
 * Pure: bytes in, the decoded model or an `UnservableError` out; callers map it to their own status.
 */
import { decodeModel, ModelFormatError, type DecodeOptions, type ModelData } from '../format/index.ts';
import { DIGIT_CLASSES, INPUT_SIZE } from '../nn/classify.ts';
import { checkSpec } from '../nn/index.ts';

export type UnservableReason = 'corrupt' | 'unsupported';

/** Why a blob cannot be served: `corrupt` (does not decode) or `unsupported` (decodes, but we cannot run it). */
export class UnservableError extends Error {
  override readonly name = 'UnservableError';
  constructor(
    readonly reason: UnservableReason,
    message: string,
    /** Machine-readable facts: the format error code and offset, or the sizes/slope refused. */
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * Decodes `bytes` (with `options`, e.g. the kernels' checksum) and checks that this worker can serve them.
 * @throws {UnservableError} `corrupt` when the blob does not decode, `unsupported` when `src/nn` refuses its
 *   spec or it is not a 784-…-10 network.
 */
export function checkServable(bytes: Uint8Array, options?: DecodeOptions): ModelData {
  let model: ModelData;
  try {
    model = decodeModel(bytes, options);
  } catch (err) {
    const e = err instanceof ModelFormatError ? err : null;
    throw new UnservableError('corrupt', err instanceof Error ? err.message : String(err), {
      formatError: e?.code ?? null,
      offset: e?.offset ?? null,
      bytes: bytes.length,
    });
  }
  const { sizes, alpha } = model;
  try {
    checkSpec({ sizes, alpha });
  } catch (err) {
    throw new UnservableError('unsupported', (err as Error).message, { sizes, alpha });
  }
  if (sizes[0] !== INPUT_SIZE || sizes[sizes.length - 1] !== DIGIT_CLASSES) {
    throw new UnservableError(
      'unsupported',
      `a ${sizes.join('-')} network is not a ${INPUT_SIZE}-…-${DIGIT_CLASSES} digit classifier`,
      { sizes, alpha },
    );
  }
  return model;
}
