/**
 * @module
 * The CRC-32 the Worker checks model blobs with: the runtime's own (`node:zlib`'s `crc32`, native code under
 * `nodejs_compat`), the same function as the format's `crc32` (zlib's polynomial). Not the format's checksum
 * rule (that is `src/format/decode.ts`, which checks every blob whatever function it is given).
 */
import * as zlib from 'node:zlib';
import { crc32 as formatCrc32 } from '../format/index.ts';

/**
 * The CRC-32 of `bytes`, as the format's `crc32` computes it. In a fresh isolate the native one takes ~0.5 ms
 * for the default model's 1.3 MB where the wasm kernels' took ~3 ms and a cold JavaScript loop ~5 ms (workerd,
 * docs/benchmarks.md, issue 17 session 9). Runtimes without `zlib.crc32` (Node before 20.15) get the format's.
 */
export const blobCrc32: (bytes: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (bytes) => zlib.crc32(bytes) : formatCrc32;
